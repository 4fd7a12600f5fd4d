"""benchmarks/core.py --quick runs and prints its table; speed is never asserted in tests."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "core.py")


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.skip("the benchmark compares against %s, which is not installed" % module)


def test_core_benchmark_quick_run_prints_the_table() -> None:
    _require("wsproto")
    _require("websockets")
    result = subprocess.run(
        [sys.executable, SCRIPT, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,  # under the 60 s pytest-timeout; a quick run takes a few seconds
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "| case" in out and "ours/wsproto" in out and "ours/websockets" in out
    assert "with speedups ON" in out or "with speedups OFF" in out
    for case in (
        "server parse 16 B masked [frames]",
        "server parse 16 B masked [whole]",
        "client send 1 MiB masked",
        "server parse 1 MiB in 4 KiB frames",
        "server parse text 64 KiB UTF-8*",
    ):
        assert case in out, case
