#!/usr/bin/env python3
"""Run Autobahn|Testsuite's wstest against a WebSocket server or client, and judge it.

wstest is Python 2 only, so this module never imports it: it writes a spec,
runs wstest (installed by install.sh) as a subprocess with a deadline, and
reads the JSON report. Standard library only; it imports nothing of ours.

- fuzzingclient: wstest is the client and tests a server at ws://127.0.0.1:PORT.
- fuzzingserver: wstest is the server; the client under test runs every case
  the usual way (GET /getCaseCount, /runCase?case=N&agent=A for N = 1..count,
  then /updateReports?agent=A), and this module asks for the reports again
  when the client is done.

A case passes when both its behavior and its behaviorClose are OK or
INFORMATIONAL; a case wstest meant to run but did not report is MISSING,
which fails too. Every process started here is stopped before returning.

    python3 tests/autobahn/run.py fuzzingclient --url ws://127.0.0.1:9001
    python3 tests/autobahn/run.py fuzzingclient --server-cmd 'python3 echo.py {port}'
    python3 tests/autobahn/run.py fuzzingserver -- python3 client.py {url} {agent}
    python3 tests/autobahn/run.py report .autobahn/reports/fuzzingclient-core-20260101-120000-x
"""

import argparse
import base64
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INSTALL_SCRIPT = HERE / "install.sh"

#: A permessage-deflate sample that runs in about 25 s (the full 216 take 14 min or more).
#: Each case sends 1000 messages, so context takeover across messages is always exercised.
#: 12.*: one default offer; the five data files (JSON, bitmap, German text, HTML, PDF) in
#: size classes 16 B to 64 KiB (one larger than a 65536-byte read), and 8 KiB auto-fragmented
#: into 256-byte frames. 13.*: every offer/accept family on 16 B messages, and where the
#: parameters bite, on 4 KiB (larger than a 9-bit window) and fragmented 8 KiB messages:
#: 13.2 no context takeover, 13.3 9-bit windows, 13.4 15-bit windows, 13.5 both,
#: 13.6 no context takeover with 15 bits, 13.7 three offers in one request.
DEFLATE_QUICK = (
    "12.1.1", "12.1.9", "12.1.11", "12.2.5", "12.3.4", "12.4.7", "12.5.3",
    "13.1.1", "13.2.1", "13.2.11", "13.3.1", "13.3.5", "13.3.11", "13.4.1",
    "13.5.1", "13.5.5", "13.5.11", "13.6.1", "13.7.1", "13.7.11",
)  # fmt: skip

#: name -> (case patterns, excluded patterns), in wstest's pattern syntax.
CASE_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core": (("*",), ("9.*", "12.*", "13.*")),  # 247 cases
    "perf": (("9.*",), ()),  # 54 performance cases
    "deflate": (("12.*", "13.*"), ()),  # 216 permessage-deflate cases
    "deflate-quick": (DEFLATE_QUICK, ()),  # 20 of them, for every test run
    "all": (("*",), ()),
}
#: Seconds a whole wstest run may take, per case set. wsproto's echo server
#: needed 9 s (core), 13 s (perf) and 41 min (deflate) here on a busy machine
#: (README.md), so only a hang or a pathologically slow peer trips these.
DEFAULT_TIMEOUTS: dict[str, float] = {
    "core": 300.0,
    "perf": 1200.0,
    "deflate": 5400.0,
    "deflate-quick": 600.0,
    "all": 7200.0,
}
PASSING = frozenset({"OK", "INFORMATIONAL"})
MISSING = "MISSING"
DEFAULT_AGENT = "wsproto_lite"
_START_TIMEOUT = 60.0  # wstest or a server under test must listen by then
_STOP_GRACE = 5.0


class AutobahnError(Exception):
    """wstest could not be installed, started or run to the end."""


class AutobahnTimeout(AutobahnError):
    """A run went past its deadline; everything it started has been stopped."""


class AutobahnFailure(AssertionError):
    """The run finished, but some case is neither OK nor INFORMATIONAL."""

    def __init__(self, report: "Report") -> None:
        super().__init__(report.summary())
        self.report = report


# --- installation --------------------------------------------------------------


def autobahn_dir() -> Path:
    """Where install.sh puts the suite: $AUTOBAHN_DIR, else <repo>/.autobahn."""
    return Path(os.environ.get("AUTOBAHN_DIR") or REPO / ".autobahn").resolve()


def ensure_installed(timeout: float = 2400.0) -> Path:
    """Run install.sh (quick when already installed); return the wstest launcher.

    pip's output goes to our stderr. Raises AutobahnError if the install fails.
    """
    with subprocess.Popen(
        ["bash", str(INSTALL_SCRIPT)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env={**os.environ, "AUTOBAHN_DIR": str(autobahn_dir())},
        start_new_session=True,  # so a timeout stops pip too, not only bash
    ) as proc:
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise AutobahnTimeout(f"install.sh took over {timeout:.0f} s") from None
    lines = stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise AutobahnError(f"install.sh failed with exit code {proc.returncode}")
    launcher = Path(lines[-1])
    if not os.access(launcher, os.X_OK):
        raise AutobahnError(f"install.sh named {launcher}, which is not executable")
    return launcher


# --- case selection ---------------------------------------------------------


def select_cases(
    case_set: str = "core",
    cases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """Return wstest's ("cases", "exclude-cases") lists.

    `cases` (patterns such as "5.*" or "7.9.6") replaces the set's own lists;
    `exclude` is always added.
    """
    if case_set not in CASE_SETS:
        raise ValueError(f"unknown case set {case_set!r}; pick one of {sorted(CASE_SETS)}")
    if cases:
        return list(cases), list(exclude)
    included, excluded = CASE_SETS[case_set]
    return list(included), [*excluded, *exclude]


def _case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split(".") if part.isdigit())


# --- reports ----------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """One case's outcome, from wstest's index.json."""

    case: str
    behavior: str
    behavior_close: str
    remote_close_code: int | None = None
    duration_ms: int | None = None
    report_file: Path | None = None

    @property
    def passed(self) -> bool:
        """True when behavior and behaviorClose are both OK or INFORMATIONAL."""
        return self.behavior in PASSING and self.behavior_close in PASSING

    def details(self) -> str:
        """Return wstest's own words on this case (result, resultClose), if it kept them."""
        if self.report_file is None or not self.report_file.is_file():
            return ""
        data = json.loads(self.report_file.read_text(encoding="utf-8"))
        parts = [str(data.get(key) or "") for key in ("result", "resultClose")]
        return " | ".join(part for part in parts if part)


@dataclass
class Report:
    """The outcome of one run: every case wstest reported, plus the ones it lost."""

    mode: str
    agent: str
    results: list[CaseResult]
    outdir: Path
    seconds: float = 0.0
    error: str | None = None  # what went wrong outside the cases, if anything
    log: Path | None = None
    expected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen = {r.case for r in self.results}
        lost = [CaseResult(c, MISSING, MISSING) for c in self.expected if c not in seen]
        self.results = sorted([*self.results, *lost], key=lambda r: _case_key(r.case))

    @property
    def behavior_counts(self) -> Counter[str]:
        """Cases per behavior (OK, NON-STRICT, FAILED, MISSING, ...)."""
        return Counter(r.behavior for r in self.results)

    @property
    def close_counts(self) -> Counter[str]:
        """Cases per behaviorClose."""
        return Counter(r.behavior_close for r in self.results)

    @property
    def failures(self) -> list[CaseResult]:
        """The cases that did not pass, MISSING ones included."""
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        """True when there were cases, all passed, and nothing else went wrong."""
        return bool(self.results) and not self.failures and self.error is None

    def summary(self, max_failures: int = 40) -> str:
        """Describe the run in a few lines, for a terminal or an assertion message."""

        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{n} {name}" for name, n in sorted(counter.items())) or "none"

        durations = [r.duration_ms for r in self.results if r.duration_ms is not None]
        lines = [
            f"{self.mode} agent={self.agent}: {len(self.results)} cases in "
            f"{self.seconds:.1f} s (case time {sum(durations) / 1000:.1f} s)",
            f"  behavior:      {counts(self.behavior_counts)}",
            f"  behaviorClose: {counts(self.close_counts)}",
        ]
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        failures = self.failures
        for r in failures[:max_failures]:
            code = "" if r.remote_close_code is None else f" remote close {r.remote_close_code}"
            why = r.details()
            lines.append(
                f"  FAIL {r.case}: {r.behavior} / {r.behavior_close}{code}"
                + (f" -- {why[:200]}" if why else "")
            )
        if len(failures) > max_failures:
            lines.append(f"  ... and {len(failures) - max_failures} more")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"  {verdict}: {len(failures)} failing; report {self.outdir / 'index.html'}")
        return "\n".join(lines)

    def check(self) -> "Report":
        """Return self if every case passed, else raise AutobahnFailure."""
        if not self.passed:
            raise AutobahnFailure(self)
        return self


def parse_report(
    path: Path, agent: str | None = None, *, missing_ok: bool = False
) -> tuple[str, list[CaseResult]]:
    """Read index.json (or the folder holding it); return (agent, its results).

    `agent` may be left out when the report holds exactly one agent. An agent
    the report does not name is an error, or no results with `missing_ok`.
    """
    index = path / "index.json" if path.is_dir() else path
    data = json.loads(index.read_text(encoding="utf-8"))
    if agent is None:
        if len(data) != 1:
            raise AutobahnError(f"{index} holds agents {sorted(data)}; name one")
        agent = next(iter(data))
    if agent not in data and missing_ok:
        return agent, []
    if agent not in data:
        raise AutobahnError(f"{index} has no results for agent {agent!r} (has {sorted(data)})")
    results = []
    for case_id, entry in data[agent].items():
        report_file = entry.get("reportfile")
        results.append(
            CaseResult(
                case=case_id,
                behavior=entry["behavior"],
                behavior_close=entry["behaviorClose"],
                remote_close_code=entry.get("remoteCloseCode"),
                duration_ms=entry.get("duration"),
                report_file=index.parent / report_file if report_file else None,
            )
        )
    return agent, sorted(results, key=lambda r: _case_key(r.case))


def _log_lines(log: Path) -> list[str]:
    try:
        return log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _cases_from_log(log: Path) -> list[str]:
    """Return the case ids wstest announced ("Cases = [u'1.1.1', ...]") in its output."""
    for line in _log_lines(log):
        if line.startswith("Cases = "):
            return re.findall(r"'([0-9.]+)'", line)
    return []


def _log_tail(log: Path, lines: int = 15) -> str:
    return "\n".join(_log_lines(log)[-lines:])


# --- processes --------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal_group(proc: "subprocess.Popen[bytes]", sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(proc.pid, sig)


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    """Stop a process and everything in its session: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(_STOP_GRACE)
    # Kills the leader if it ignored SIGTERM, and any children it left behind.
    _signal_group(proc, signal.SIGKILL)
    proc.wait(_STOP_GRACE)


@contextmanager
def process(
    cmd: Sequence[str], log: Path, cwd: Path | None = None
) -> "Iterator[subprocess.Popen[bytes]]":
    """Run `cmd` in its own session with output to `log`; always stop it on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        _stop(proc)


def wait_for_port(port: int, proc: "subprocess.Popen[bytes]", log: Path, timeout: float) -> None:
    """Block until something accepts on 127.0.0.1:port; fail if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AutobahnError(
                f"{proc.args!r} exited with {proc.returncode} before listening on port "
                f"{port}:\n{_log_tail(log)}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AutobahnTimeout(f"nothing listened on port {port} within {timeout:.0f} s")
        time.sleep(0.05)


def _wait(proc: "subprocess.Popen[bytes]", deadline: float, what: str, log: Path) -> int:
    try:
        return proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise AutobahnTimeout(f"{what} passed its deadline:\n{_log_tail(log)}") from None


def _fill(template: Sequence[str], **values: object) -> list[str]:
    """Replace {port}, {url}, {agent} in each argument (other braces stay)."""
    out = []
    for arg in template:
        filled = arg
        for key, value in values.items():
            filled = filled.replace(f"{{{key}}}", str(value))
        out.append(filled)
    return out


def new_outdir(mode: str, case_set: str) -> Path:
    """Make a fresh folder for one run's spec, logs and reports under $AUTOBAHN_DIR."""
    base = autobahn_dir() / "reports"
    base.mkdir(parents=True, exist_ok=True)
    prefix = f"{mode}-{case_set}-{time.strftime('%Y%m%d-%H%M%S')}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@contextmanager
def _claim(outdir: Path | None, mode: str, case_set: str) -> Iterator[tuple[Path, Path]]:
    """Hold `outdir` (default: a new one) for one run; yield it and its reports folder.

    Two runs writing one report would judge each other's cases, so a second
    run on a folder in use fails at once. Any old index.json is removed.
    """
    outdir = (outdir or new_outdir(mode, case_set)).resolve()
    reports = outdir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    with (outdir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AutobahnError(f"{outdir} is in use by another run") from None
        (reports / "index.json").unlink(missing_ok=True)  # never judge a stale run
        yield outdir, reports


def _collect(
    mode: str, agent: str, reports: Path, log: Path, seconds: float, error: str | None
) -> Report:
    if not (reports / "index.json").is_file():
        raise AutobahnError(f"wstest wrote no {reports / 'index.json'}:\n{_log_tail(log)}")
    # An agent that ran no case is absent: its cases then all count as MISSING.
    _, results = parse_report(reports, agent, missing_ok=True)
    return Report(
        mode=mode,
        agent=agent,
        results=results,
        outdir=reports,
        seconds=seconds,
        error=error,
        log=log,
        expected=_cases_from_log(log),
    )


# --- fuzzingclient: wstest tests a server -----------------------------------


def run_fuzzingclient(
    url: str,
    *,
    agent: str = DEFAULT_AGENT,
    case_set: str = "core",
    cases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    outdir: Path | None = None,
    timeout: float | None = None,
    wstest: Path | None = None,
) -> Report:
    """Run `wstest -m fuzzingclient` against the echo server at `url`.

    The server must echo every text and binary message back. Returns the
    Report (call .check() to raise on failures); raises AutobahnTimeout when
    the run takes longer than `timeout` (default: DEFAULT_TIMEOUTS[case_set]).
    """
    wstest = wstest or ensure_installed()
    included, excluded = select_cases(case_set, cases, exclude)
    limit = DEFAULT_TIMEOUTS[case_set] if timeout is None else timeout
    with _claim(outdir, "fuzzingclient", "custom" if cases else case_set) as (workdir, reports):
        spec = {
            "outdir": str(reports),
            "servers": [{"agent": agent, "url": url}],
            "cases": included,
            "exclude-cases": excluded,
            "exclude-agent-cases": {},
        }
        spec_file = workdir / "fuzzingclient.json"
        spec_file.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        log = workdir / "wstest.log"
        print(f"autobahn: fuzzingclient -> {url}; progress in {log}", file=sys.stderr)
        started = time.monotonic()
        cmd = [str(wstest), "-m", "fuzzingclient", "-s", str(spec_file)]
        with process(cmd, log, cwd=workdir) as proc:
            code = _wait(proc, started + limit, "wstest -m fuzzingclient", log)
        if code != 0:
            raise AutobahnError(f"wstest -m fuzzingclient exited with {code}:\n{_log_tail(log)}")
        seconds = time.monotonic() - started
        # wstest skips the rest of a server's cases when it cannot connect.
        refused = [line for line in _log_lines(log) if line.startswith("Connection to ")]
        error = refused[0] if refused else None
        return _collect("fuzzingclient", agent, reports, log, seconds, error)


@contextmanager
def server_process(cmd: Sequence[str], port: int, log: Path) -> Iterator[str]:
    """Start a server under test (`{port}` in `cmd` becomes `port`); yield its URL.

    The server is stopped, with its whole process group, on exit.
    """
    with process(_fill(cmd, port=port), log) as proc:
        wait_for_port(port, proc, log, _START_TIMEOUT)
        yield f"ws://127.0.0.1:{port}"


# --- fuzzingserver: wstest tests a client -----------------------------------

#: A client under test: called with (base URL such as ws://127.0.0.1:PORT, agent).
ClientCallable = Callable[[str, str], object]


def update_reports(port: int, agent: str, timeout: float = 120.0) -> None:
    """Open /updateReports?agent=... on a fuzzingserver and wait until it has written them.

    wstest writes the reports, then sends its close frame, so reading up to
    that frame (or EOF) is enough; a minimal raw-socket client does it.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /updateReports?agent={quote(agent)} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request.encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise AutobahnError("fuzzingserver closed /updateReports before answering")
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise AutobahnError(f"/updateReports answered {head.splitlines()[0]!r}")
        # The only frame on this path is the server's close; b"" means EOF.
        if data or sock.recv(4096):
            sock.sendall(b"\x88\x80\x37\xfa\x21\x3d")  # our masked, empty close


def run_fuzzingserver(
    client: ClientCallable | Sequence[str],
    *,
    agent: str = DEFAULT_AGENT,
    case_set: str = "core",
    cases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    outdir: Path | None = None,
    timeout: float | None = None,
    wstest: Path | None = None,
) -> Report:
    """Start `wstest -m fuzzingserver` on a free loopback port; let `client` run every case.

    `client` is a callable taking (base_url, agent), run in a thread, or a
    command whose arguments may hold {url}, {port} and {agent}. A client that
    raises or exits non-zero fails the report (error). The server is
    stopped afterwards in every case. Raises AutobahnTimeout when the client
    is still running after `timeout` (default: DEFAULT_TIMEOUTS[case_set]);
    a callable still running then is abandoned as a daemon thread.
    """
    wstest = wstest or ensure_installed()
    included, excluded = select_cases(case_set, cases, exclude)
    limit = DEFAULT_TIMEOUTS[case_set] if timeout is None else timeout
    with _claim(outdir, "fuzzingserver", "custom" if cases else case_set) as (workdir, reports):
        spec = {
            "outdir": str(reports),
            "cases": included,
            "exclude-cases": excluded,
            "exclude-agent-cases": {},
        }
        log = workdir / "wstest.log"
        started = time.monotonic()
        deadline = started + limit
        with fuzzingserver(spec, workdir, log, wstest) as (port, server):
            print(f"autobahn: fuzzingserver on port {port}; progress in {log}", file=sys.stderr)
            error = _run_client(client, port, agent, deadline, workdir / "client.log")
            if server.poll() is not None:
                raise AutobahnError(f"fuzzingserver died during the run:\n{_log_tail(log)}")
            update_reports(port, agent, timeout=max(30.0, deadline - time.monotonic()))
        seconds = time.monotonic() - started
        return _collect("fuzzingserver", agent, reports, log, seconds, error)


@contextmanager
def fuzzingserver(
    spec: Mapping[str, object], outdir: Path, log: Path, wstest: Path
) -> "Iterator[tuple[int, subprocess.Popen[bytes]]]":
    """Run `wstest -m fuzzingserver` on a free loopback port; yield (port, process).

    `spec` gets its "url" here. The server is stopped on exit.
    """
    for attempt in range(3):  # the free port can be taken before wstest binds it
        port = free_port()
        spec_file = outdir / "fuzzingserver.json"
        full_spec = {**spec, "url": f"ws://127.0.0.1:{port}"}
        spec_file.write_text(json.dumps(full_spec, indent=2), encoding="utf-8")
        cmd = [str(wstest), "-m", "fuzzingserver", "-s", str(spec_file), "--webport", "0"]
        with process(cmd, log, cwd=outdir) as server:
            try:
                wait_for_port(port, server, log, _START_TIMEOUT)
            except AutobahnError:
                if attempt < 2 and "Address already in use" in _log_tail(log):
                    continue
                raise
            yield port, server
            return


def _run_client(
    client: ClientCallable | Sequence[str], port: int, agent: str, deadline: float, log: Path
) -> str | None:
    """Run the client under test until it ends; return what went wrong, if anything."""
    url = f"ws://127.0.0.1:{port}"
    if callable(client):
        failure: list[str] = []

        def target() -> None:
            try:
                client(url, agent)
            except BaseException as exc:  # reported, not swallowed: it fails the run
                failure.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=target, name="autobahn-client", daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            raise AutobahnTimeout("the client under test passed its deadline")
        return failure[0] if failure else None
    cmd = _fill(client, url=url, port=port, agent=agent)
    with process(cmd, log) as proc:
        code = _wait(proc, deadline, f"client {shlex.join(cmd)}", log)
    if code != 0:
        return f"{shlex.join(cmd)} exited with {code}:\n{_log_tail(log)}"
    return None


# --- command line -----------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="case_set", choices=sorted(CASE_SETS), default="core")
    parser.add_argument(
        "--case",
        action="append",
        dest="cases",
        metavar="PATTERN",
        help="run only these cases (e.g. 5.* or 7.9.6); repeatable",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also skip these cases; repeatable",
    )
    parser.add_argument("--agent", default=DEFAULT_AGENT, help="name in the reports")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds for the whole run (default per set: {DEFAULT_TIMEOUTS})",
    )
    parser.add_argument(
        "--outdir",
        type=Path,
        help="spec, logs and reports/ go here (default: a new folder in $AUTOBAHN_DIR/reports)",
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI; exit 0 when every case passed, 1 when some failed, 2 on errors."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install wstest (install.sh) and print its path")
    fc = sub.add_parser("fuzzingclient", help="test a server: wstest connects to it")
    target = fc.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the running echo server, e.g. ws://127.0.0.1:9001")
    target.add_argument(
        "--server-cmd",
        help="start this server first; {port} is replaced by a free port (shell words, no shell)",
    )
    _add_common(fc)
    fs = sub.add_parser("fuzzingserver", help="test a client: it connects to wstest")
    fs.add_argument(
        "client_cmd",
        nargs="+",
        metavar="CMD",
        help="client command, after --; {url}, {port} and {agent} are replaced",
    )
    _add_common(fs)
    rp = sub.add_parser("report", help="summarise an existing index.json (or its folder)")
    rp.add_argument("path", type=Path)
    rp.add_argument("--agent")
    args = parser.parse_args(argv)
    # wstest and the peers run in sessions of their own, so a SIGTERM to us
    # must unwind the context managers that stop them rather than kill us outright.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    try:
        if args.command == "install":
            print(ensure_installed())
            return 0
        if args.command == "report":
            index_dir = args.path / "reports" if (args.path / "reports").is_dir() else args.path
            agent, results = parse_report(index_dir, args.agent)
            if not index_dir.is_dir():
                index_dir = index_dir.parent
            report = Report("report", agent, results, index_dir)
        elif args.command == "fuzzingserver":
            report = run_fuzzingserver(
                args.client_cmd,
                agent=args.agent,
                case_set=args.case_set,
                cases=args.cases,
                exclude=args.exclude,
                outdir=args.outdir,
                timeout=args.timeout,
            )
        else:
            with ExitStack() as stack:
                url = args.url
                if url is None:
                    label = "custom" if args.cases else args.case_set
                    args.outdir = args.outdir or new_outdir("fuzzingclient", label)
                    port = free_port()
                    log = args.outdir / "server.log"
                    server = server_process(shlex.split(args.server_cmd), port, log)
                    url = stack.enter_context(server)
                report = run_fuzzingclient(
                    url,
                    agent=args.agent,
                    case_set=args.case_set,
                    cases=args.cases,
                    exclude=args.exclude,
                    outdir=args.outdir,
                    timeout=args.timeout,
                )
    except AutobahnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
