"""The benchmark scripts run in --quick form and print their tables; speed is never asserted."""

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
    assert "ours: wsproto_lite with its accelerator O" in out  # ON or OFF, said either way
    # The pure-Python copy is timed in the same rounds and has its own table.
    assert "pure: the same files imported again as wsproto_lite_pure" in out
    assert "pure msg/s" in out and "pure/ours" in out and "pure/wsproto" in out
    assert "pure/websockets" in out and "pure MB/s" in out
    for case in (
        "server parse 16 B masked [frames]",
        "server parse 16 B masked [whole]",
        "client send 1 MiB masked",
        "server parse 1 MiB in 4 KiB frames",
        "server parse text 64 KiB UTF-8*",
    ):
        rows = [line for line in out.splitlines() if line.startswith("| %s " % case)]
        assert rows and len(rows) % 3 == 0, case  # in the ours, pure and MB/s tables
    assert "pure >= 1.1x wsproto" in out


def test_core_benchmark_require_speedups_fails_loudly_without_them() -> None:
    _require("wsproto")
    _require("websockets")
    env = dict(os.environ, WSPROTO_LITE_NO_SPEEDUPS="1")
    result = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--require-speedups"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--require-speedups" in result.stderr and "SPEEDUPS is False" in result.stderr
    assert "| case" not in result.stdout


def _run_quick(script: str, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", script), "--quick", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_echo_benchmark_quick_run_prints_the_tables() -> None:
    # Two servers keep the smoke run short; aiohttp and picows are optional peers (bench extra).
    _require("websockets")
    out = _run_quick("echo.py", "--servers", "ours,websockets", "--only", "64 B")
    assert "| case" in out and "ours msg/s" in out and "ours/websockets" in out
    assert "Round trip" in out and "ours us/msg" in out and "gen us/msg ours" in out
    for case in ("64 B, 1 in flight", "64 B, 100 in flight", "64 B, 100 conns x 1"):
        assert case in out, case


def test_memory_benchmark_quick_run_prints_the_table() -> None:
    _require("websockets")
    out = _run_quick("memory.py", "--servers", "ours,websockets", "--connections", "50")
    assert "| server" in out and "traced idle" in out and "RSS idle" in out
    assert "| ours " in out and "| websockets " in out


def test_blocking_echo_benchmark_quick_run_prints_the_tables() -> None:
    _require("websockets")
    out = _run_quick("blocking_echo.py", "--only", "64 B")
    assert "| case" in out and "ours->ours msg/s" in out and "websockets->websockets msg/s" in out
    assert "both ends" in out and "server, their client" in out and "client, their server" in out
    for case in ("64 B, 1 thread", "64 B, 8 threads"):
        assert case in out, case


def test_deflate_core_benchmark_quick_run_prints_the_table() -> None:
    _require("wsproto")
    _require("websockets")
    out = _run_quick("deflate_core.py")
    assert "| case" in out and "ours/wsproto" in out and "ours/websockets" in out
    assert "ours us/msg" in out and "permessage-deflate: server window 12 bits" in out
    for case in (
        "server parse+inflate 1 KiB JSON",
        "client parse+inflate 64 KiB JSON",
        "server compress+send 1 KiB JSON",
        "client compress+send 64 KiB JSON",
    ):
        assert "| %s " % case in out, case


def test_echo_benchmark_with_deflate_prints_the_ratios() -> None:
    _require("websockets")
    out = _run_quick(
        "echo.py", "--compression", "deflate", "--servers", "ours,websockets", "--only", "1 KiB"
    )
    assert "ours msg/s" in out and "ours/websockets" in out and "ours/websockets CPU" in out
    assert "ours agreed: permessage-deflate" in out
    assert "websockets agreed: permessage-deflate" in out
    for case in ("1 KiB JSON, 1 in flight", "1 KiB JSON, 100 in flight"):
        assert "| %s " % case in out, case


def test_memory_benchmark_with_deflate_prints_the_table() -> None:
    _require("websockets")
    out = _run_quick(
        "memory.py",
        "--compression",
        "deflate",
        "--servers",
        "ours,websockets",
        "--connections",
        "20",
    )
    assert "| server" in out and "traced idle" in out and "traced after 1 echo" in out
    assert "| ours " in out and "| websockets " in out and "traced idle vs websockets" in out
    assert "ours agreed: permessage-deflate" in out
    assert "websockets agreed: permessage-deflate" in out


def test_micropython_unix_benchmark_quick_run_prints_the_tables() -> None:
    # MicroPython's unix port serves; exit 2 means no interpreter was found (skip, or fail
    # under CI=true, where scripts/test.sh provides one, as tests/test_micropython_viper.py).
    _require("websockets")
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "micropython_unix.py"),
            "--quick",
            "--servers",
            "ours,microdot",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    if result.returncode == 2:
        reason = "micropython_unix.py found no MicroPython unix port: " + result.stderr.strip()
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: a missing interpreter is a failure)")
        pytest.skip(reason)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "lib=wsproto_lite speedups=True mask=viper" in out
    assert "| case" in out and "ours msg/s" in out and "| server" in out
    assert "parked in receive()" in out and "Smallest -X heapsize" in out
    for case in ("64 B, 1 in flight", "64 B, 50 in flight", "16 KiB, 10 in flight"):
        assert "| %s " % case in out, case
    if "microdot msg/s" in out:  # Microdot comes from PyPI; without it its rows are left out
        assert "ours/microdot" in out and "sha1=shim(wsproto_lite._sha1)" in out
