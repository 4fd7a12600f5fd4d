"""The wheels ship both packages with their py.typed markers, and imports stay light.

setuptools builds the wheels (setup.py): the platform wheel carries the C accelerator,
WSPROTO_LITE_PURE=1 gives the `py3-none-any` wheel, and a compiler that fails still gives
an install, on the pure-Python path, with one line saying so.
"""

import importlib.machinery
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_BUILT = "wsproto_lite: the C accelerator was not built ("
# the wheel's files: the two packages, their metadata, nothing from the sdist's extras
SHIPPED = ("wsproto_lite/", "transports/", "wsproto_lite-0.1.0.dist-info/")
TYPED = ("wsproto_lite/py.typed", "transports/py.typed", "wsproto_lite/_speedups.pyi")
# what frames.py picks, and whether the compiled functions give the pure ones' bytes
PROBE = (
    "import wsproto_lite.frames as f\n"
    "data, key = bytes(range(256)) * 3, b'\\x01\\x82\\x43\\xf4'\n"
    "assert f.mask(data, key, 3) == f._pure_mask(data, key, 3)\n"
    "print(f.__file__)\n"
    "print(f._C.__file__ if f.SPEEDUPS else f.__file__)\n"
    "print(f.SPEEDUPS)\n"
)


def _modules_added_by(statement: str) -> set[str]:
    """Run `statement` in a fresh interpreter; return the modules it imported."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "%s\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n" % statement
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def _build_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSPROTO_LITE_")}
    env.update(changes)
    return env


def _isolation() -> list[str]:
    """Build offline with this environment's setuptools when it can build wheels by itself.

    setuptools 77 reads the license expression (and 70.1 took in bdist_wheel); an older one
    (or none) leaves pip's isolated build environment, which fetches setuptools>=77 from
    the package index.
    """
    try:
        found = tuple(int(n) for n in re.findall(r"\d+", version("setuptools"))[:2])
    except PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if found >= (77, 0) else []


def _pip(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pip with the project's build, in a way that leaves no build/ or egg-info in ROOT."""
    litter = [ROOT / "build", ROOT / "wsproto_lite.egg-info"]
    before = {p for p in litter if p.exists()}
    run = subprocess.run(
        [sys.executable, "-m", "pip", *args, *_isolation(), "--no-deps", str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=230,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert {p for p in litter if p.exists()} <= before, "the build left files in the tree"
    return run


def _wheel(tmp_path: Path, **env: str) -> tuple[Path, set[str]]:
    _pip("wheel", "-q", "-w", str(tmp_path / "dist"), env=_build_env(**env))
    (wheel,) = (tmp_path / "dist").glob("wsproto_lite-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "unpacked")
        return wheel, set(zf.namelist())


def _probe(site: Path, **env: str) -> bool:
    """Import wsproto_lite.frames from `site` only: is the accelerator in use?

    -S: no site-packages, whose editable install of ROOT would otherwise hand out ROOT's
    in-place _speedups to the package imported from `site`; cwd: an empty directory.
    """
    cwd = site.parent / "cwd"
    cwd.mkdir(exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=_build_env(PYTHONPATH=str(site), **env),
    ).stdout.split()
    for path in out[:2]:
        assert Path(path).resolve().is_relative_to(site.resolve()), path
    return {"True": True, "False": False}[out[2]]


def _is_extension(name: str) -> bool:
    return name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES) + (".so", ".pyd"))


def _check_contents(names: set[str]) -> None:
    for path in ("wsproto_lite/__init__.py", "transports/__init__.py", *TYPED):
        assert path in names, "%s missing" % path
    assert not [n for n in names if not n.startswith(SHIPPED)]
    assert not [n for n in names if n.endswith((".c", ".h", ".o", ".obj"))]
    # The licence: the file, and the SPDX expression in the metadata (PEP 639).
    assert "wsproto_lite-0.1.0.dist-info/licenses/LICENSE" in names, sorted(names)


def _have_compiler() -> bool:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC")
    return os.name == "nt" or bool(cc and shutil.which(cc.split()[0]))


@pytest.mark.packaging
@pytest.mark.timeout(240)  # pip may fetch setuptools into an isolated build environment
def test_wheel_ships_both_packages_py_typed_and_the_accelerator(tmp_path: Path) -> None:
    if not _have_compiler() and os.environ.get("CI") != "true":
        pytest.skip("no C compiler: the platform wheel would have no accelerator")
    wheel, names = _wheel(tmp_path)
    tag = "cp%d%d" % sys.version_info[:2]
    assert wheel.name.startswith("wsproto_lite-0.1.0-%s-%s-" % (tag, tag)), wheel.name
    assert not wheel.name.endswith("-any.whl"), wheel.name
    _check_contents(names)
    (ext,) = [n for n in names if _is_extension(n)]
    assert ext.startswith("wsproto_lite/_speedups."), ext
    assert _probe(tmp_path / "unpacked") is True
    assert _probe(tmp_path / "unpacked", WSPROTO_LITE_NO_SPEEDUPS="1") is False


@pytest.mark.packaging
@pytest.mark.timeout(240)
def test_pure_wheel_is_py3_none_any_without_the_accelerator(tmp_path: Path) -> None:
    wheel, names = _wheel(tmp_path, WSPROTO_LITE_PURE="1")
    assert wheel.name == "wsproto_lite-0.1.0-py3-none-any.whl"
    _check_contents(names)
    assert not [n for n in names if _is_extension(n)]
    meta = (tmp_path / "unpacked" / "wsproto_lite-0.1.0.dist-info" / "WHEEL").read_text()
    assert "Root-Is-Purelib: true" in meta and "Tag: py3-none-any" in meta, meta
    assert _probe(tmp_path / "unpacked") is False


@pytest.mark.packaging
@pytest.mark.timeout(240)
@pytest.mark.skipif(os.name == "nt", reason="MSVC does not take its compiler from CC")
def test_a_failing_compiler_still_installs_the_pure_path_and_says_so(tmp_path: Path) -> None:
    # CC=false: the compile step itself runs and fails (not a missing compiler skipped
    # over). pip prints a successful build's output only with -v.
    target = tmp_path / "site"
    run = _pip("install", "-v", "--target", str(target), env=_build_env(CC="false"))
    lines = [line.strip() for line in (run.stdout + run.stderr).splitlines()]
    said = [line for line in lines if line.startswith(NOT_BUILT)]
    assert len(said) == 1, "\n".join(lines[-40:])
    assert "'false' exited with status 1" in said[0], said[0]
    assert "pure-Python path" in said[0], said[0]
    assert not [p for p in target.rglob("*") if _is_extension(p.name)]
    assert (target / "wsproto_lite" / "_speedups.pyi").exists()
    assert _probe(target) is False


def test_importing_transports_pulls_in_no_io() -> None:
    added = _modules_added_by("import transports")
    assert "transports" in added
    assert not added & {"asyncio", "socket", "selectors", "ssl", "threading"}, sorted(added)


def test_importing_the_core_pulls_in_no_io() -> None:
    # _viper.py is MicroPython's accelerator: it imports `micropython`, so not on CPython.
    skip = {"__init__", "_viper"}
    modules = sorted(p.stem for p in (ROOT / "wsproto_lite").glob("*.py") if p.stem not in skip)
    added = _modules_added_by(
        "import wsproto_lite" + "".join(", wsproto_lite." + m for m in modules)
    )
    forbidden = {"asyncio", "socket", "selectors", "ssl", "threading", "time", "logging"}
    assert not added & forbidden, sorted(added & forbidden)
