"""The switching recipes of docs/from-wsproto.rst, run for real: uvicorn and hypercorn.

Run by tests/consumers/run.py in .consumers/venv (where uvicorn, hypercorn and the
`websockets` client are installed): `python -m pytest tests/consumers/recipes_check.py`.
Each test starts examples/wsproto_apps/<server>.py on a free 127.0.0.1 port as its own
process, checks that the process imported wsproto_lite as `wsproto`, echoes text and bytes
through it with permessage-deflate negotiated, closes, and stops the server.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from websockets.sync.client import connect

APPS = Path(__file__).resolve().parent.parent.parent / "examples" / "wsproto_apps"
GUARD = 20.0  # seconds before a stuck step fails the test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited with %s" % proc.returncode
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not open yet, bounded by GUARD
    raise AssertionError("nothing listened on %d within %.0f s" % (port, GUARD))


@pytest.fixture(
    params=[["uvicorn_server.py"], ["uvicorn_server.py", "2"], ["hypercorn_server.py"]],
    ids=["uvicorn", "uvicorn-2-workers", "hypercorn"],
)
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    port = free_port()
    script, *workers = request.param
    proc = subprocess.Popen(
        [sys.executable, str(APPS / script), str(port), *workers],
        cwd=APPS,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
