"""Run every atheris harness for a bounded time: python fuzz/run_all.py --seconds 10

Each harness starts from its seeds in fuzz/corpus/<harness>/ (read only; speedups reads
frames_server's input, so it starts from fuzz/corpus/frames_server/) and grows a working
corpus in a temporary folder, or in WORK/<harness>/ with --work WORK (kept, so a long run
can be resumed or measured with fuzz/replay.py --coverage). Exits 1 if any harness
crashed, broke an invariant, timed out or ran out of memory; its crash file (and the
input as hex, when small) is printed.

speedups compares the C accelerator with the pure path. Where the accelerator is missing
(no compiler at install) or WSPROTO_LITE_NO_SPEEDUPS is set, it is skipped with a note,
as the pytest stage does; under CI=true, or when named with --only, it runs and fails.

    --seconds N      per harness (default 10)
    --parallel N     harnesses at once (default 1; each uses one core)
    --only NAME ...  just these harnesses
    --work DIR       keep the working corpora and crash files under DIR
    --max-len N      largest input libFuzzer makes (default 8192)
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESSES = ("frames_server", "frames_client", "handshake_server", "handshake_client")
HARNESSES += ("wsconnection", "deflate", "speedups")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.formats import seed_folder  # noqa: E402  (fuzz.formats imports no wsproto_lite)


class Run:
    def __init__(self, name: str, work: Path, seconds: int, max_len: int) -> None:
        self.name = name
        self.corpus = work / name
        self.artifacts = work / "artifacts" / name
        self.log = work / ("%s.log" % name)
        self.corpus.mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.cmd = [
            sys.executable,
            str(ROOT / "fuzz" / "harness.py"),
            name,
            "-max_total_time=%d" % seconds,
            "-timeout=20",
            "-rss_limit_mb=1536",
            "-max_len=%d" % max_len,
            "-print_final_stats=1",
            "-artifact_prefix=%s/" % self.artifacts,
            str(self.corpus),
            str(ROOT / "fuzz" / "corpus" / seed_folder(name)),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.rc: int | None = None
        self.started = 0.0
        self.elapsed = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def poll(self) -> bool:
        assert self.proc is not None
        self.rc = self.proc.poll()
        if self.rc is not None:
            self.elapsed = time.monotonic() - self.started
        return self.rc is not None

    def stats(self) -> dict[str, str]:
        text = self.log.read_text(errors="replace")
        out = {}
        for key in ("number_of_executed_units", "average_exec_per_sec", "peak_rss_mb"):
            m = re.search(r"stat::%s:\s*(\d+)" % key, text)
            if m:
                out[key] = m.group(1)
        lines = re.findall(r"^#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", text, re.M)
        if lines:
            out["cov"], out["ft"], out["corp"] = lines[-1]
        return out

    def report_failure(self) -> None:
        text = self.log.read_text(errors="replace").splitlines()
        print("\n---- %s failed (exit %s); last lines of %s:" % (self.name, self.rc, self.log))
        print("\n".join(text[-60:]))
        for crash in sorted(self.artifacts.iterdir()):
            data = crash.read_bytes()
            print("\ncrash file %s (%d bytes)" % (crash, len(data)))
            if len(data) <= 2048:
                print("  bytes: %r" % (data,))
            print("  reproduce: python fuzz/replay.py %s %s" % (self.name, crash))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=HARNESSES)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--max-len", type=int, default=8192)
    args = parser.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install atheris (CPython on Linux)", file=sys.stderr)
        return 2
    names = args.only or list(HARNESSES)
    skipped = {}
    if "speedups" in names and not args.only and os.environ.get("CI") != "true":
        from fuzz.oracles import speedups_missing

        problem = speedups_missing()
        if problem is not None:
            print("note: speedups skipped: %s" % problem, flush=True)
            skipped["speedups"] = problem
            names.remove("speedups")
    with tempfile.TemporaryDirectory(prefix="wsproto_lite-fuzz-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        runs = [Run(name, work, args.seconds, args.max_len) for name in names]
        pending = list(runs)
        active: list[Run] = []
        while pending or active:
            while pending and len(active) < max(args.parallel, 1):
                run = pending.pop(0)
                print("fuzzing %s for %ds ..." % (run.name, args.seconds), flush=True)
                run.start()
                active.append(run)
            time.sleep(0.2)
            active = [run for run in active if not run.poll()]
        failed = [run for run in runs if run.rc != 0]
        for run in failed:
            run.report_failure()
        print(
            "\n%-17s %-6s %9s %8s %6s %6s %6s"
            % ("harness", "result", "execs", "exec/s", "cov", "ft", "corp")
        )
        for run in runs:
            s = run.stats()
            print(
                "%-17s %-6s %9s %8s %6s %6s %6s"
                % (
                    run.name,
                    "ok" if run.rc == 0 else "FAIL",
                    s.get("number_of_executed_units", "?"),
                    s.get("average_exec_per_sec", "?"),
                    s.get("cov", "?"),
                    s.get("ft", "?"),
                    s.get("corp", "?"),
                )
            )
        for name, problem in skipped.items():
            print("%-17s %-6s %s" % (name, "skip", problem))
        if failed:
            print("\n%d of %d harnesses failed" % (len(failed), len(runs)))
            if args.work is None:
                print("(crash files are lost with the temporary folder; rerun with --work DIR)")
            return 1
        print("\nno harness found a failure")
        return 0


if __name__ == "__main__":
    sys.exit(main())
