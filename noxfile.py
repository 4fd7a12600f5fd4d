"""The test suite on every CPython we support: nox -s tests (scripts/test.sh runs it).

The default interpreter (3.11) runs the whole suite in scripts/test.sh's pytest stage;
these sessions run it again on 3.10, 3.12 and 3.13, found through pyenv's versions.
3.11, 3.10 and 3.13 run with the C accelerator; 3.12 runs the whole suite on the pure
path (WSPROTO_LITE_NO_SPEEDUPS=1), so both paths pass everything in every run.
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


PURE_ON = "3.12"  # the version whose session forces the pure-Python path
INTERPRETERS = {_interpreter(v): v for v in ("3.10", "3.12", "3.13")}


@nox.session(python=list(INTERPRETERS))
def tests(session: nox.Session) -> None:
    """pytest on one interpreter (the benchmark smoke runs stay on the default one)."""
    session.install("-e", ".[test]")
    pure = INTERPRETERS.get(str(session.python)) == PURE_ON
    env = {"WSPROTO_LITE_NO_SPEEDUPS": "1"} if pure else {}
    # Which path runs, checked: under CI a missing accelerator (no compiler) fails.
    expect = "False" if pure else "True"
    check = "import wsproto_lite.frames as f; print('wsproto_lite accelerator:', f.SPEEDUPS)"
    if os.environ.get("CI") == "true":
        check += "; assert f.SPEEDUPS is %s, 'expected SPEEDUPS %s'" % (expect, expect)
    session.run("python", "-c", check, env=env)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--ignore=tests/test_benchmarks_smoke.py",
        *session.posargs,
        env=env,
    )
