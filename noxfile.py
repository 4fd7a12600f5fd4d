"""The test suite on every CPython we support: nox -s tests (scripts/test.sh runs it).

The default interpreter (3.11) runs the whole suite in scripts/test.sh's pytest stage;
these sessions run it again on 3.10, 3.12 and 3.13, found through pyenv's versions.
"""

import glob
import os

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True  # a missing Python fails, never skips


def _interpreter(version: str) -> str:
    # pyenv keeps each version under ~/.pyenv/versions/X.Y.Z; fall back to PATH.
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python3")))
    return found[-1] if found else "python" + version


@nox.session(python=[_interpreter(v) for v in ("3.10", "3.12", "3.13")])
def tests(session: nox.Session) -> None:
    """pytest on one interpreter (the benchmark smoke runs stay on the default one)."""
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--ignore=tests/test_benchmarks_smoke.py",
        *session.posargs,
    )
