"""transports.uasyncio's server on MicroPython's unix port, over real TCP, with other clients.

tests/micropython/unix_echo.py runs on the unix port (a fresh server per test, killed after
it) and headless Chromium, Node's `ws` and Python's `websockets` talk to it over loopback.
Each test checks every echo against what was sent: text, binary, empty messages, multi-byte
UTF-8 and 64 KiB ones, and the close code that ends the connection. MicroPython has no zlib
that can do permessage-deflate, so the server declines the offer every client makes, which
is asserted too.

The browser and Node helpers are tests/test_deflate_interop.py's (exchange.js in the page,
ws_client.js in Node). A missing interpreter, browser or Node skips with what is missing,
and fails under CI=true.

Run by `bash scripts/test.sh micropython-unix`; a plain `pytest` leaves this file out
(tests/conftest.py), naming it runs it: .venv/bin/python -m pytest tests/test_mpy_unix_interop.py
"""

from typing import Any, Iterator, List, Tuple, Union

import pytest
from websockets.exceptions import ConnectionClosedError

from . import test_deflate_interop as deflate_interop
from .blocking_helpers import GUARD, their_client, url
from .mpy_unix import MicroPython, require_micropython, serve

ECHO = "tests/micropython/unix_echo.py"
HEAP = "2M"  # a large board's heap; the biggest message here is 64 KiB
LIMIT = str(1 << 20)  # max_message_length: above the 64 KiB ones (MicroPython's default is less)
KiB = 1 << 10
# exchange.js's specs, sent in order on one connection: empty, short and 64 KiB messages of
# both kinds; its text has 2- and 3-byte UTF-8 characters among ASCII words.
SPECS: List[Tuple[str, int]] = [
    ("text", 0),
    ("text", 50),
    ("binary", 0),
    ("binary", KiB),
    ("text", 64 * KiB),
    ("binary", 64 * KiB),
]
MESSAGES: List[Union[str, bytes]] = [
    "héllo ✓ données €",
    "",
    b"",
    b"\x00\xff\x80\x7f",
    "ü✓😀" * (64 * KiB // 9),  # 2-, 3- and 4-byte characters
    bytes(range(256)) * (64 * KiB // 256),
]

chromium = deflate_interop.chromium
node = deflate_interop.node
no_thread_left = deflate_interop.no_thread_left  # autouse: websockets' threads must end


@pytest.fixture(scope="module")
def micropython() -> MicroPython:
    return require_micropython()


@pytest.fixture
def echo_port(micropython: MicroPython) -> Iterator[int]:
    """unix_echo.py on a port the kernel picked; killed after the test."""
    with serve(micropython, ECHO, "0", LIMIT, heap=HEAP) as (_proc, port):
        yield port


def check_js(peer: str, result: Any) -> None:
    deflate_interop.check_js_results(peer, result, SPECS)  # every echo equal, closed 1000
    assert result["extensions"] == "", result["extensions"]  # deflate declined


def test_chromium_with_our_micropython_server(
    chromium: deflate_interop.Chromium, echo_port: int
) -> None:
    page = deflate_interop.page_exchange(url(echo_port), SPECS)
    result = chromium.run(page, deflate_interop.EXCHANGE_TIMEOUT + GUARD)
    check_js("Chromium -> unix_echo.py", result)


def test_node_ws_client_with_our_micropython_server(node: str, echo_port: int) -> None:
    result = deflate_interop.node_client(node, url(echo_port), SPECS)
    check_js("ws client -> unix_echo.py", result)
    assert result["header"] is None, result["header"]  # no Sec-WebSocket-Extensions


def test_websockets_client_with_our_micropython_server(echo_port: int) -> None:
    with their_client(echo_port) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        for sent in MESSAGES:
            ws.send(sent)
            got = ws.recv(timeout=GUARD)
            assert type(got) is type(sent) and got == sent, (len(sent), len(got))
        ws.close(4000, "client leaves")
    echoed = ws.protocol.close_rcvd  # the close frame the MicroPython server sent back
    assert echoed is not None
    assert (echoed.code, echoed.reason) == (4000, "client leaves")


def test_websockets_message_over_the_limit_gets_1009(micropython: MicroPython) -> None:
    with (
        serve(micropython, ECHO, "0", "1024", heap=HEAP) as (_proc, port),
        their_client(port) as ws,
    ):
        ws.send(b"x" * 1024)
        assert ws.recv(timeout=GUARD) == b"x" * 1024  # at the limit: echoed
        ws.send(b"x" * 1025)
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=GUARD)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
