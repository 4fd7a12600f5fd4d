"""The wheel ships both packages with their py.typed markers, and imports stay light."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.packaging
@pytest.mark.timeout(240)  # pip fetches hatchling into an isolated build environment
def test_wheel_ships_both_packages_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=230,
    )
    (wheel,) = tmp_path.glob("wsproto_lite-0.1.0-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (
        "wsproto_lite/__init__.py",
        "wsproto_lite/py.typed",
        "transports/__init__.py",
        "transports/py.typed",
    ):
        assert path in names, "%s missing from %s" % (path, wheel.name)
    assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/"))]


def test_importing_transports_pulls_in_no_io() -> None:
    added = _modules_added_by("import transports")
    assert "transports" in added
    assert not added & {"asyncio", "socket", "selectors", "ssl", "threading"}, sorted(added)


def test_importing_the_core_pulls_in_no_io() -> None:
    modules = sorted(p.stem for p in (ROOT / "wsproto_lite").glob("*.py") if p.stem != "__init__")
    added = _modules_added_by(
        "import wsproto_lite" + "".join(", wsproto_lite." + m for m in modules)
    )
    forbidden = {"asyncio", "socket", "selectors", "ssl", "threading", "time", "logging"}
    assert not added & forbidden, sorted(added & forbidden)
