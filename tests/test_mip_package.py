"""package.json (for `mpremote mip install`) lists exactly the files MicroPython loads."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# CPython-only modules: asyncio streams/protocols, sockets and threads, the test client.
CPYTHON_ONLY = {"transports/asyncio.py", "transports/blocking.py", "transports/testing.py"}


def test_package_json_lists_every_micropython_module_and_nothing_else() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    listed = [dest for dest, _source in package["urls"]]
    expected = sorted(
        str(path.relative_to(ROOT))
        for folder in ("wsproto_lite", "transports")
        for path in (ROOT / folder).glob("*.py")
        if str(path.relative_to(ROOT)) not in CPYTHON_ONLY
    )
    assert sorted(listed) == expected
    assert all(dest == source for dest, source in package["urls"])  # paths relative to the repo


def test_package_json_version_matches_the_package() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    init = (ROOT / "wsproto_lite" / "__init__.py").read_text()
    assert '__version__ = "%s"' % package["version"] in init
    assert package["deps"] == []  # no runtime dependency, on a board either
