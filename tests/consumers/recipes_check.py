"""The switching recipes of docs/from-wsproto.rst, run for real: uvicorn and hypercorn.

Run by tests/consumers/run.py in .consumers/venv (where uvicorn, hypercorn and the
`websockets` client are installed): `python -m pytest tests/consumers/recipes_check.py`.
Each test starts examples/wsproto_apps/<server>.py on a free 127.0.0.1 port as its own
process, checks that the process imported wsproto_lite as `wsproto`, echoes text and bytes
through it with permessage-deflate negotiated, closes, and stops the server.
"""

import importlib.util
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ROOT / "examples" / "wsproto_apps"
GUARD = 20.0  # seconds before a stuck step fails the test


def _load_autobahn_run() -> ModuleType:
    # tests/autobahn/run.py (standard library only) starts, waits for and stops peers;
    # loaded by path, since this folder has a run.py of its own.
    spec = importlib.util.spec_from_file_location("autobahn_run", ROOT / "tests/autobahn/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peers = _load_autobahn_run()


@pytest.fixture(
    params=[["uvicorn_server.py"], ["uvicorn_server.py", "2"], ["hypercorn_server.py"]],
    ids=["uvicorn", "uvicorn-2-workers", "hypercorn"],
)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    port = peers.free_port()
    script, *workers = request.param
    log = tmp_path / "server.log"
    # peers.process() runs it in a session of its own and stops the whole session (the
    # workers too) on exit.
    with peers.process(
        [sys.executable, str(APPS / script), str(port), *workers], log, APPS
    ) as proc:
        peers.wait_for_port(port, proc, log, GUARD)
        yield port


def test_the_server_runs_on_wsproto_lite(server: int) -> None:
    url = "http://127.0.0.1:%d/which" % server
    for _ in range(6):  # with workers, each request may reach another process
        with urllib.request.urlopen(url, timeout=GUARD) as response:
            assert response.read() == b"wsproto_lite"


def test_echo_through_the_server_with_permessage_deflate(server: int) -> None:
    url = "ws://127.0.0.1:%d/ws" % server
    with connect(url, open_timeout=GUARD, close_timeout=GUARD) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert extensions.startswith("permessage-deflate"), extensions
        for message in ["hello", "h\u00e9llo \U0001f600" * 500, b"\x00\xff" * 40000, b""]:
            ws.send(message)
            assert ws.recv(timeout=GUARD) == message
        ws.close(1000, "done")
    assert ws.close_code == 1000
