"""Run one atheris harness: python fuzz/harness.py NAME [libFuzzer flags] [corpus dirs or files]

NAME is one of fuzz.oracles.TARGETS: frames_server, frames_client, handshake_server,
handshake_client, wsconnection, deflate, speedups. Everything after NAME goes to libFuzzer,
for example

    python fuzz/harness.py frames_server -max_total_time=600 /tmp/work fuzz/corpus/frames_server

grows /tmp/work from the seeds for ten minutes, and

    python fuzz/harness.py frames_server crash-0123abcd

runs one input once (a crash file, to reproduce it). Only wsproto_lite is instrumented
for coverage (for speedups, its pure-path copy wsproto_lite_pure too; without the C
accelerator that harness has nothing to compare and exits with status 2); the mutator is
fuzz.mutator's structure-aware one, with libFuzzer's own mutations mixed in.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    name = sys.argv[1]
    sys.path.insert(0, str(ROOT))

    import atheris

    with atheris.instrument_imports(include=["wsproto_lite"]):
        import wsproto_lite  # noqa: F401  (every core module, instrumented)

    from fuzz import mutator, oracles

    if name not in oracles.TARGETS:
        sys.exit("unknown harness %r; harnesses: %s" % (name, ", ".join(oracles.TARGETS)))
    if name == "speedups":
        problem = oracles.speedups_missing()
        if problem is not None:
            message = "speedups: %s; it would compare the pure path with itself" % problem
            print(message, file=sys.stderr)
            sys.exit(2)
        from fuzz.pure_core import NAME, load_pure

        # The second copy's modules are imported here, so they are instrumented here too.
        with atheris.instrument_imports(include=[NAME]):
            load_pure()

    def byte_mutator(data: bytes, max_size: int) -> bytes:
        # Looked up at each call: atheris binds the real Mutate only once Fuzz() runs.
        return atheris.Mutate(data, max_size)

    atheris.Setup(
        [sys.argv[0]] + sys.argv[2:],
        oracles.TARGETS[name],
        custom_mutator=mutator.libfuzzer_mutator(name, byte_mutator),
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
