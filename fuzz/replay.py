"""Run inputs through the harnesses once, without atheris: python fuzz/replay.py ...

    python fuzz/replay.py NAME PATH...      files, or folders of files, for harness NAME
    python fuzz/replay.py --corpus ROOT     ROOT/<harness>/ for every harness that has one
                                            (speedups: ROOT/frames_server/ if ROOT/speedups/
                                            is missing, as in fuzz/corpus)
    python fuzz/replay.py --coverage ...    the same under coverage.py (pip install coverage),
                                            then the line coverage of the core's modules

Prints the traceback of the first input that breaks an invariant or crashes the core,
with the input's path, and exits 1. This is how a crash file is debugged in plain
Python (pdb, prints), and how the corpus a long run grew is measured for coverage.
Without the C accelerator, speedups has nothing to compare: named, it exits 2; with
--corpus, it is skipped with a note.
"""

import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CORE = ("frames.py", "connection.py", "handshake.py", "utf8.py", "events.py", "errors.py")
CORE += ("extensions.py",)


def inputs(paths: "list[str]") -> "list[Path]":
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p])
    return out


def replay(jobs: "list[tuple[str, Path]]", named: bool) -> int:
    # Imported here, so that coverage (when asked for) sees the core's modules load.
    from fuzz.oracles import TARGETS, speedups_missing

    problem = speedups_missing() if any(n == "speedups" for n, _ in jobs) else None
    if problem is not None and named:
        print("speedups: %s; nothing to compare" % problem, file=sys.stderr)
        return 2
    if problem is not None:
        print("note: speedups skipped: %s" % problem, file=sys.stderr)
        jobs = [(name, path) for name, path in jobs if name != "speedups"]
    for name, path in jobs:
        try:
            TARGETS[name](path.read_bytes())
        except Exception:
            traceback.print_exc()
            print("\n%s: %s broke on %s" % ("replay", name, path), file=sys.stderr)
            return 1
    print("%d inputs replayed without a failure" % len(jobs))
    return 0


def main() -> int:
    args = sys.argv[1:]
    with_coverage = "--coverage" in args
    args = [a for a in args if a != "--coverage"]
    harnesses = ("frames_server", "frames_client", "handshake_server", "handshake_client")
    harnesses += ("wsconnection", "deflate", "speedups")
    from fuzz.formats import seed_folder  # imports no wsproto_lite

    jobs: list[tuple[str, Path]] = []
    named = args[:1] != ["--corpus"]
    if not named and len(args) == 2:
        for name in harnesses:
            folder = Path(args[1]) / name
            if not folder.is_dir():
                folder = Path(args[1]) / seed_folder(name)
            if folder.is_dir():
                jobs += [(name, p) for p in inputs([str(folder)])]
    elif len(args) >= 2 and args[0] in harnesses:
        jobs = [(args[0], p) for p in inputs(args[1:])]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if not with_coverage:
        return replay(jobs, named)

    import coverage

    cov = coverage.Coverage(source=[str(ROOT / "wsproto_lite")], branch=True)
    cov.start()
    rc = replay(jobs, named)
    cov.stop()
    files = [str(ROOT / "wsproto_lite" / name) for name in CORE]
    print("\n%-28s %6s %6s %7s" % ("line coverage", "lines", "missed", "covered"))
    for name, path in zip(CORE, files):
        _, statements, _, missing, _ = cov.analysis2(path)
        n = len(statements)
        print("%-28s %6d %6d %6.1f%%" % (name, n, len(missing), 100.0 * (n - len(missing)) / n))
    print("\nlines and branches:")
    cov.report(include=files, show_missing=False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
