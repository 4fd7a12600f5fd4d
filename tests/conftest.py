"""Test-suite settings: Hypothesis profiles and a printed seed for every run.

HYPOTHESIS_PROFILE picks the profile: "ci" in .ci/run (or whenever CI is set), else "default".
Runs stay random, but each one forces a seed and prints it, so a failure seen in CI can be
replayed with: pytest --hypothesis-seed=N
"""

import os
import random

import pytest
from hypothesis import HealthCheck, settings

# Replaces Hypothesis's built-in "ci" profile, which derandomizes: we want new inputs each run.
settings.register_profile(
    "ci",
    deadline=None,  # a shared CI machine's timing says nothing about our code
    database=None,  # a fresh clone has no example database to replay or keep
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
settings.load_profile(PROFILE)

# tests/test_mpy_unix_*.py run on MicroPython's unix port in scripts/test.sh's own
# micropython-unix stage, so collecting a folder leaves them out (no second run in the
# pytest stage). Files named on the command line are still collected, so they run by hand
# with: pytest tests/test_mpy_unix_*.py
collect_ignore_glob = ["test_mpy_unix_*.py"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Runs before Hypothesis's own pytest_configure, which applies --hypothesis-seed.
    if config.getoption("hypothesis_seed", default=None) is None:
        config.option.hypothesis_seed = str(random.randrange(2**32))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seed = terminalreporter.config.getoption("hypothesis_seed", default=None)
    terminalreporter.write_line(
        "hypothesis profile %r, seed %s (replay: pytest --hypothesis-seed=%s)"
        % (PROFILE, seed, seed)
    )
