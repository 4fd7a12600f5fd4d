"""The facades' `compression` option (permessage-deflate) over loopback, both roles.

Our asyncio and blocking servers and clients against websockets' sync API (compression on by
default there too): deflate is agreed by default, `compression=None` turns it off, a
configured PerMessageDeflate is copied for each connection, a bad value raises ValueError,
and the message limit holds on the inflated size through the facade.
"""

import asyncio
import contextlib
import gc
import threading
from typing import Any, Iterator, Optional

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from transports import asyncio as aio
from transports import blocking
from transports.testing import TestClient
from wsproto_lite.extensions import PerMessageDeflate

from .blocking_helpers import (
    GUARD,
    async_echo,
    asyncio_server,
    blocking_server,
    echo,
    new_threads_end,
    their_client,
    their_echo,
    url,
    websockets_server,
)

OURS = ["blocking", "asyncio"]
# Compressible text: JSON-like, 64 KiB, with enough variety that deflate has work to do.
TEXT = "".join(
    '{"id": %d, "name": "item-%d", "ok": %s}\n' % (i, i * 7, i % 3 == 0) for i in range(1700)
)[: 64 << 10]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    new_threads_end(before)
    gc.collect()


@contextlib.contextmanager
def our_server(kind: str, **options: Any) -> Iterator[int]:
    if kind == "blocking":
        with blocking_server(echo, **options) as server:
            yield server.port
    else:
        with asyncio_server(async_echo, **options) as port:
            yield port


def agreed(value: Optional[str]) -> bool:
    return value is not None and value.split(";")[0].strip() == "permessage-deflate"


def deflate_of(conn: Any) -> Optional[PerMessageDeflate]:
    """The enabled PerMessageDeflate of one of our connections, or None."""
    found = [ext for ext in conn.extensions if isinstance(ext, PerMessageDeflate)]
    return found[0] if found else None


def our_client_round_trip(kind: str, port: int, message: Any, **options: Any) -> Any:
    """Connect with our client of `kind`, echo one message; return (reply, its deflate)."""
    if kind == "blocking":
        with blocking.connect(url(port), **options) as ws:
            ext = deflate_of(ws._conn)
            ws.send(message)
            return ws.receive(timeout=GUARD), ext

    async def run() -> Any:
        async with aio.connect(url(port), **options) as ws:
            ext = deflate_of(ws._conn)
            await ws.send(message)
            return await asyncio.wait_for(ws.receive(), GUARD), ext

    return asyncio.run(run())


# -- our servers -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OURS)
def test_our_server_agrees_to_deflate_by_default_and_echoes(kind: str) -> None:
    with our_server(kind) as port, their_client(port) as ws:
        assert agreed(ws.response.headers.get("Sec-WebSocket-Extensions"))
        # websockets' default offer lets us limit the server window: ours is 12 bits.
        assert "server_max_window_bits=12" in ws.response.headers["Sec-WebSocket-Extensions"]
        for message in (TEXT, TEXT.encode(), "", b"", "é" * 1000):
            ws.send(message)
            assert ws.recv(timeout=GUARD) == message


@pytest.mark.parametrize("kind", OURS)
def test_our_server_with_compression_none_declines_the_offer(kind: str) -> None:
    with our_server(kind, compression=None) as port, their_client(port) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        ws.send(TEXT)
        assert ws.recv(timeout=GUARD) == TEXT


@pytest.mark.parametrize("kind", OURS)
def test_our_server_copies_a_configured_extension_per_connection(kind: str) -> None:
    template = PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=10)
    with our_server(kind, compression=template) as port:
        for _ in range(2):
            with their_client(port) as ws:
                answer = ws.response.headers["Sec-WebSocket-Extensions"]
                assert "server_no_context_takeover" in answer
                assert "server_max_window_bits=10" in answer
                ws.send(TEXT)
                assert ws.recv(timeout=GUARD) == TEXT
    assert not template.enabled()  # the template itself is never negotiated


@pytest.mark.parametrize("kind", OURS)
def test_our_server_limit_holds_after_inflation(kind: str) -> None:
    # 1000 bytes inflated pass; 1001 (about 20 bytes on the wire) close with 1009.
    with our_server(kind, max_message_length=1000) as port, their_client(port) as ws:
        ws.send("a" * 1000)
        assert ws.recv(timeout=GUARD) == "a" * 1000
        ws.send("a" * 1001)
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=GUARD)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


@pytest.mark.parametrize("bad", ["gzip", 1, True, PerMessageDeflate])
def test_a_bad_compression_value_raises_valueerror(bad: Any) -> None:
    with pytest.raises(ValueError):
        blocking.serve(echo, "127.0.0.1", 0, compression=bad)
    with pytest.raises(ValueError):
        blocking.connect("ws://127.0.0.1:9/", compression=bad)
    with pytest.raises(ValueError):
        aio.serve(async_echo, compression=bad)
    with pytest.raises(ValueError):
        aio.connect("ws://127.0.0.1:9/", compression=bad)


def test_the_test_client_takes_compression() -> None:
    # TestClient's own client offers nothing; the option is accepted and reaches serve().
    client = TestClient(async_echo, compression=None)
    assert client.serve_options == {"compression": None}


# -- our clients -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OURS)
def test_our_client_offers_deflate_by_default(kind: str) -> None:
    with websockets_server(their_echo) as port:
        reply, ext = our_client_round_trip(kind, port, TEXT)
    assert reply == TEXT
    assert ext is not None and ext.enabled()


@pytest.mark.parametrize("kind", OURS)
def test_our_client_with_compression_none_offers_nothing(kind: str) -> None:
    seen = []

    def record(ws: ServerConnection) -> None:
        seen.append(ws.request.headers.get("Sec-WebSocket-Extensions") if ws.request else "?")
        their_echo(ws)

    with websockets_server(record) as port:
        reply, ext = our_client_round_trip(kind, port, b"\x00" * 5000, compression=None)
    assert reply == b"\x00" * 5000
    assert ext is None
    assert seen == [None]


@pytest.mark.parametrize("kind", OURS)
def test_our_client_offers_a_configured_extension(kind: str) -> None:
    seen = []

    def record(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request.headers.get("Sec-WebSocket-Extensions"))
        their_echo(ws)

    template = PerMessageDeflate(client_no_context_takeover=True)
    with websockets_server(record) as port:
        reply, ext = our_client_round_trip(kind, port, TEXT, compression=template)
    assert reply == TEXT
    assert ext is not None and ext is not template and ext.client_no_context_takeover
    assert len(seen) == 1 and "client_no_context_takeover" in (seen[0] or "")


# -- asyncio: iteration without a frame of its own --------------------------------------------


class Shouting(aio.WebSocket):
    __slots__ = ()

    async def receive(self) -> Any:
        message = await super().receive()
        return message.upper() if isinstance(message, str) else message


async def shout_back(request: aio.Request, ws: aio.WebSocket) -> None:
    async for message in ws:  # goes through Shouting.receive()
        await ws.send(message)


def test_async_for_goes_through_a_subclass_receive() -> None:
    with asyncio_server(shout_back, websocket_class=Shouting) as port, their_client(port) as ws:
        ws.send("quiet")
        assert ws.recv(timeout=GUARD) == "QUIET"
