"""Autobahn|Testsuite through the consumers: uvicorn and simple-websocket, on wsproto_lite
and on real wsproto, compared case by case.

    .venv/bin/python tests/consumers/autobahn.py [--sets core deflate-quick] [--keep]
        [--consumers uvicorn simple-websocket] [--impls real lite] [--repeat N] [--all-cases]
        [--outdir DIR]

For each set, and for each consumer on each implementation, one tests/autobahn/run.py run:

- uvicorn, server role: `run.py fuzzingclient` against tests/consumers/uvicorn_echo.py
  (uvicorn's wsproto back end serving an ASGI echo app).
- simple-websocket, client role: `run.py fuzzingserver` with tests/consumers/sws_client.py
  (simple_websocket.Client echoing every case).

The peers run in .consumers/venv; `--real` makes them import real wsproto, without it they
call wsproto_lite.install_as_wsproto() first. Everything else is the same in both.
run.py's exit code is not the verdict (real wsproto through these consumers is not
all-OK either); this script reads each run's reports/index.json itself.

Comparison rule, per case and per field (behavior, behaviorClose), lite against real:
rank OK > NON-STRICT > INFORMATIONAL > UNIMPLEMENTED > WRONG CODE = UNCLEAN > FAILED =
FAILED BY CLIENT = MISSING (a case wstest announced but did not report, or any verdict
not named here). A field where either side is INFORMATIONAL belongs to an informational
case (in wstest 0.8.2: 7.1.6, 7.13.1, 7.13.2, which give INFORMATIONAL to every peer):
there OK and INFORMATIONAL rank the same. A case is worse on lite when either field ranks
lower on lite than on real. With --repeat N each consumer runs N times on each
implementation (real and lite interleaved) and the best verdict per case and field of
each side's N runs is compared: simple-websocket's Client echoes from the application's
thread while its reader thread parses, so a message followed by a bad frame is echoed or
not by thread timing (3.4, 4.1.5, 4.2.5 flip between OK and NON-STRICT, 5.6 between OK
and FAILED, on real wsproto as on lite). A case that is worse on lite in some runs but
reaches real's best in another is listed under "differ between runs", not as a
regression; one that never reaches real's best in its N runs is a regression. The
default N = 1 is a plain comparison of one run each; those four cases (TIMING_DEPENDENT)
are then left out of it and reported on their own, unless --all-cases.

On the deflate sets (deflate, deflate-quick) every case on lite must moreover be OK or
INFORMATIONAL, for the consumers that negotiate permessage-deflate: uvicorn does (its
accept carries PerMessageDeflate() with ws_per_message_deflate, on by default).
simple-websocket's Client does not: its Request has no extensions, so wstest marks every
12.*/13.* case UNIMPLEMENTED there, on real wsproto as on lite, and only the comparison
applies. With `--impls lite` alone there is nothing to compare with, and only that check
is made.

Prints one table row per run (set, role, consumer, implementation, wall time, counts by
behavior and by behaviorClose), then each case worse on lite with wstest's own words.
Exits 0 when nothing is worse, 1 on any regression or failed deflate check, 2 when a run
could not finish (timeout, no report). Reports go to DIR (default a new folder in
.autobahn/reports/); they are removed at the end unless --keep or something failed.
Standard library only; every process started here is stopped before it returns.
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUN_PY = ROOT / "tests" / "autobahn" / "run.py"
PEER_PYTHON = ROOT / ".consumers" / "venv" / "bin" / "python"
REPORTS = ROOT / ".autobahn" / "reports"

#: Deadline handed to run.py per set (its own defaults); we wait a little longer.
TIMEOUTS = {"core": 300.0, "deflate-quick": 600.0, "deflate": 5400.0}
_OUTER_MARGIN = 120.0
_STOP_GRACE = 30.0  # run.py stops wstest and the peer on SIGTERM; give it time

CONSUMERS = ("uvicorn", "simple-websocket")
ROLES = {"uvicorn": "server", "simple-websocket": "client"}
#: Whether the consumer negotiates permessage-deflate (see the docstring).
NEGOTIATES_DEFLATE = {"uvicorn": True, "simple-websocket": False}
IMPLS = ("real", "lite")

MISSING = "MISSING"
PASSING = frozenset({"OK", "INFORMATIONAL"})
RANK = {
    "OK": 6,
    "NON-STRICT": 5,
    "INFORMATIONAL": 4,
    "UNIMPLEMENTED": 3,
    "WRONG CODE": 2,
    "UNCLEAN": 2,
}  # FAILED, FAILED BY CLIENT, MISSING and anything else: 0

Verdict = tuple[str, str]  # (behavior, behaviorClose)


# --- one run ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run.py invocation: a case set, a consumer, an implementation."""

    case_set: str
    consumer: str
    impl: str
    attempt: int = 1

    @property
    def role(self) -> str:
        return ROLES[self.consumer]

    @property
    def agent(self) -> str:
        return f"{self.consumer}-{self.impl}"

    def outdir(self, base: Path) -> Path:
        return base / f"{self.case_set}-{self.consumer}-{self.impl}-{self.attempt}"

    def command(self, outdir: Path) -> list[str]:
        """The run.py command line for this run."""
        real = ["--real"] if self.impl == "real" else []
        common = ["--set", self.case_set, "--agent", self.agent, "--outdir", str(outdir)]
        common += ["--timeout", str(TIMEOUTS[self.case_set])]
        head = [sys.executable, str(RUN_PY)]
        if self.consumer == "uvicorn":
            server = [str(PEER_PYTHON), str(HERE / "uvicorn_echo.py"), "{port}", *real]
            words = " ".join(w if w == "{port}" else shlex.quote(w) for w in server)
            return [*head, "fuzzingclient", *common, "--server-cmd", words]
        client = [str(PEER_PYTHON), str(HERE / "sws_client.py"), "{url}", "{agent}", *real]
        return [*head, "fuzzingserver", *common, "--", *client]


@dataclass
class Outcome:
    """What one run produced: per-case verdicts, its wall time, and what went wrong."""

    run: Run
    results: dict[str, Verdict]
    seconds: float
    outdir: Path
    problems: list[str] = field(default_factory=list)

    def counts(self, index: int) -> Counter[str]:
        return Counter(verdict[index] for verdict in self.results.values())

    def details(self, case: str) -> str:
        """wstest's own words on a case (result | resultClose), from its report file."""
        index = self.outdir / "reports" / "index.json"
        with suppress(OSError, KeyError, ValueError):
            entry = json.loads(index.read_text(encoding="utf-8"))[self.run.agent][case]
            data = json.loads((index.parent / entry["reportfile"]).read_text(encoding="utf-8"))
            return " | ".join(str(data.get(k) or "") for k in ("result", "resultClose"))
        return ""


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    """SIGTERM run.py (it then stops wstest and the peer); SIGKILL its group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(_STOP_GRACE)


def execute(run: Run, base: Path) -> Outcome:
    """Run run.py for `run` with a deadline; read its report whatever its exit code."""
    outdir = run.outdir(base)
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = run.command(outdir)
    log = outdir / "run.log"
    print(f"== {run.case_set} {run.role} {run.agent}: {shlex.join(cmd)}", flush=True)
    started = time.monotonic()
    problems = []
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(TIMEOUTS[run.case_set] + _OUTER_MARGIN)
        except subprocess.TimeoutExpired:
            code = None
            problems.append("run.py passed its deadline and was stopped")
        finally:
            _stop(proc)
    seconds = time.monotonic() - started
    if code == 2:
        problems.append("run.py could not finish the run (exit 2); see " + str(log))
    problems += _run_errors(log)
    results = read_results(outdir, run.agent)
    if not results:
        problems.append(f"no results in {outdir / 'reports' / 'index.json'}")
    return Outcome(run, results, seconds, outdir, problems)


def _run_errors(log: Path) -> list[str]:
    """run.py's "ERROR:" lines (a peer that exited non-zero, a refused connection)."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("ERROR:")]


def read_results(outdir: Path, agent: str) -> dict[str, Verdict]:
    """Per-case (behavior, behaviorClose) from index.json, MISSING for announced cases."""
    results: dict[str, Verdict] = {}
    index = outdir / "reports" / "index.json"
    with suppress(OSError, ValueError):
        entries = json.loads(index.read_text(encoding="utf-8")).get(agent, {})
        results = {c: (e["behavior"], e["behaviorClose"]) for c, e in entries.items()}
    for case in _announced_cases(outdir / "wstest.log"):
        results.setdefault(case, (MISSING, MISSING))
    return results


def _announced_cases(log: Path) -> list[str]:
    with suppress(OSError):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Cases = "):
                return re.findall(r"'([0-9.]+)'", line)
    return []


# --- judging ----------------------------------------------------------------


def _rank(value: str, informational: bool) -> int:
    if informational and value in PASSING:
        return RANK["OK"]
    return RANK.get(value, 0)


def field_worse(lite: str, real: str) -> bool:
    """True when lite's verdict for one field ranks below real's (docstring rule)."""
    informational = "INFORMATIONAL" in (lite, real)
    return _rank(lite, informational) < _rank(real, informational)


def best(outcomes: Sequence[Outcome]) -> dict[str, Verdict]:
    """Per case, the best behavior and the best behaviorClose any of the runs got."""
    merged: dict[str, Verdict] = {}
    for o in outcomes:
        for case, (behavior, close) in o.results.items():
            old = merged.get(case, (MISSING, MISSING))
            merged[case] = (
                max(old[0], behavior, key=lambda v: RANK.get(v, 0)),
                max(old[1], close, key=lambda v: RANK.get(v, 0)),
            )
    return merged


def varying(outcomes: Sequence[Outcome]) -> list[str]:
    """Cases whose verdicts differ between runs of the same consumer and implementation."""
    cases = {c for o in outcomes for c in o.results}
    seen = [{o.results.get(c, (MISSING, MISSING)) for o in outcomes} for c in sorted(cases)]
    return sorted((c for c, v in zip(sorted(cases), seen) if len(v) > 1), key=_case_key)


# Cases whose verdict through these consumers is decided by timing, not by the library:
# whether a message is echoed before a bad frame behind it is parsed (simple-websocket's
# Client echoes from the application's thread while its reader parses on; uvicorn's
# verdict depends on whether both arrive in one read). Seen flipping on real wsproto
# through simple-websocket in 11, 13, 19 and 9 of 20 runs, and on wsproto_lite as often.
# Left out of the comparison unless --all-cases; still reported.
TIMING_DEPENDENT = ("3.4", "4.1.5", "4.2.5", "5.6")


def worse_cases(
    real: Sequence[Outcome], lite: Sequence[Outcome], skip: Sequence[str] = ()
) -> list[str]:
    """Cases where lite's best behavior or behaviorClose is worse than real's best."""
    real_best, lite_best = best(real), best(lite)
    worse = []
    for case in sorted(set(real_best) | set(lite_best), key=_case_key):
        if case in skip:
            continue
        lv = lite_best.get(case, (MISSING, MISSING))
        rv = real_best.get(case, (MISSING, MISSING))
        if field_worse(lv[0], rv[0]) or field_worse(lv[1], rv[1]):
            worse.append(case)
    return worse


def deflate_failures(lite: Sequence[Outcome]) -> list[str]:
    """On a deflate set, lite's cases that are not OK/INFORMATIONAL in both fields, in any run."""
    runs = [o for o in lite if o.run.case_set.startswith("deflate")]
    runs = [o for o in runs if NEGOTIATES_DEFLATE[o.run.consumer]]
    bad = {
        c for o in runs for c, v in o.results.items() if not (v[0] in PASSING and v[1] in PASSING)
    }
    return sorted(bad, key=_case_key)


def _case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split(".") if part.isdigit())


# --- printing ---------------------------------------------------------------


def _counts(counter: Counter[str]) -> str:
    order = sorted(counter.items(), key=lambda item: (-RANK.get(item[0], 0), item[0]))
    return ", ".join(f"{n} {name}" for name, n in order) or "none"


def print_table(outcomes: Sequence[Outcome]) -> None:
    head = f"{'set':<14}{'role':<8}{'consumer':<18}{'impl':<7}{'wall':>8}  "
    print("\n" + head + "behavior | behaviorClose")
    for o in outcomes:
        r = o.run
        impl = r.impl if r.attempt == 1 else f"{r.impl}#{r.attempt}"
        print(
            f"{r.case_set:<14}{r.role:<8}{r.consumer:<18}{impl:<7}{o.seconds:>7.1f}s  "
            f"{_counts(o.counts(0))} | {_counts(o.counts(1))}"
        )


def _verdicts(outcomes: Sequence[Outcome], case: str) -> str:
    got = Counter("/".join(o.results.get(case, (MISSING, MISSING))) for o in outcomes)
    return ", ".join(v if n == 1 else f"{v} x{n}" for v, n in got.items()) or "-"


def print_cases(
    title: str, cases: Sequence[str], real: Sequence[Outcome], lite: Sequence[Outcome]
) -> None:
    if not cases:
        return
    print(f"  {title}: {len(cases)}")
    for case in cases:
        why = next((o.details(case) for o in lite if o.details(case)), "")
        print(
            f"    {case}: lite {_verdicts(lite, case)}; real {_verdicts(real, case)} -- {why[:160]}"
        )


# --- main -------------------------------------------------------------------


def fingerprint() -> str:
    """A hash of wsproto_lite's sources: another edit during the runs shows up as a change."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "wsproto_lite").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def judge(outcomes: Sequence[Outcome], skip: Sequence[str] = TIMING_DEPENDENT) -> int:
    """Print the table and every regression; return the exit code."""
    print_table(outcomes)
    status = 0
    for o in outcomes:
        if o.problems:
            print(f"\n{o.run.case_set} {o.run.agent}#{o.run.attempt}: " + "; ".join(o.problems))
            status = 2
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.run.case_set, o.run.consumer, o.run.impl), []).append(o)
    for (case_set, consumer, impl), lite in groups.items():
        if impl != "lite":
            continue
        real = groups.get((case_set, consumer, "real"), [])
        worse = worse_cases(real, lite, skip) if real else []
        bad_deflate = deflate_failures(lite)
        name = f"\n{case_set} {ROLES[consumer]} {consumer}"
        if real:
            print(f"{name} vs real, {len(lite)} run(s) each: {len(worse)} worse on lite")
        else:
            print(f"{name}, lite only ({len(lite)} run(s)): not compared")
        print_cases("worse on lite", worse, real, lite)
        timing = [c for c in skip if c in worse_cases(real, lite)] if real else []
        print_cases("worse on lite, timing-dependent (not counted)", timing, real, lite)
        print_cases("not OK on a deflate set", bad_deflate, real, lite)
        flaky = sorted(set(varying(real)) | set(varying(lite)), key=_case_key)
        print_cases("differ between runs of one implementation", flaky, real, lite)
        if worse or bad_deflate:
            status = max(status, 1)
    return status


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets", nargs="+", choices=sorted(TIMEOUTS), default=["core", "deflate-quick"]
    )
    parser.add_argument("--consumers", nargs="+", choices=CONSUMERS, default=list(CONSUMERS))
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--outdir", type=Path, help="where the runs' folders go")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each consumer on each implementation N times; compare the best verdicts",
    )
    parser.add_argument("--keep", action="store_true", help="keep the reports when all is well")
    parser.add_argument(
        "--all-cases",
        action="store_true",
        help="compare the timing-dependent cases too (%s)" % ", ".join(TIMING_DEPENDENT),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    base = (args.outdir or REPORTS / f"consumers-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    base.mkdir(parents=True, exist_ok=True)
    before = fingerprint()
    print(f"wsproto_lite sources {before}; reports in {base}", flush=True)
    runs = [
        Run(case_set, consumer, impl, attempt)
        for case_set in args.sets
        for attempt in range(1, args.repeat + 1)
        for consumer in args.consumers
        for impl in args.impls
    ]
    outcomes = [execute(run, base) for run in runs]
    status = judge(outcomes, () if args.all_cases else TIMING_DEPENDENT)
    after = fingerprint()
    if after != before:
        print(f"\nnote: wsproto_lite's sources changed during the runs ({before} -> {after})")
    if status == 0 and not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"\nreports kept in {base}")
    return status


if __name__ == "__main__":
    sys.exit(main())
