"""transports.uasyncio's keepalive and closing deadline, on CPython over 127.0.0.1.

The same rules as the other transports (wsproto_lite.keepalive): a silent peer gets a
ping after ping_interval and is failed with 1011 ping_timeout after it; any byte counts
as life; a dead peer is dropped even while the handler is blocked in send() on a full
TCP window; close() gives up after close_timeout on a peer that neither reads nor
answers. tests/test_mpy_unix_memory.py runs the silent-peer case on MicroPython itself.
"""

import asyncio
import time
from typing import Any, List

import pytest

from transports.uasyncio import Request, WebSocket, WebSocketError, connect, serve

from .asyncio_helpers import (
    CLOSE,
    PING,
    TEXT,
    RawClient,
    async_test,
    close_payload,
    frame,
    guard,
    raw_accept,
    read_client_frame,
    stream_server,
)

KEEPALIVE = (1011, "keepalive ping timeout")


@async_test
async def test_a_silent_peer_is_pinged_then_failed_with_1011() -> None:
    seen: "asyncio.Future[WebSocketError]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with (
        await serve(handler, port=0, ping_interval=0.2, ping_timeout=0.3) as server,
        await RawClient.open(server.port) as client,
    ):
        await client.handshake()
        silent_since = time.monotonic()
        fin, opcode, payload = await client.read_frame()  # read, never answered
        assert (fin, opcode, payload) == (True, PING, b"keepalive")
        exc = await guard(seen)
        dead_after = time.monotonic() - silent_since
        assert await client.read_close() == KEEPALIVE
        assert await client.read_eof() == b""
    assert (exc.code, exc.reason) == KEEPALIVE
    # Dead at ping_interval + ping_timeout after the last byte heard (0.5 s), not before.
    assert dead_after >= 0.45, dead_after


@async_test
async def test_a_peer_that_sends_but_never_pongs_stays_alive() -> None:
    # Any byte is life: messages every 0.1 s keep a connection with 0.2 s + 0.2 s
    # keepalive open for 1.2 s (three times what would kill a silent one).
    ended: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            ended.set_result(ws.close_code)

    async with await serve(handler, port=0, ping_interval=0.2, ping_timeout=0.2) as server:
        async with await RawClient.open(server.port) as client:
            await client.handshake()
            echoed: List[bytes] = []
            pings = 0
            for i in range(12):
                message = b"tick %d" % i
                await client.send(frame(TEXT, message))
                got = await client.read_frame()
                while got[1] == PING:  # never answered
                    pings += 1
                    got = await client.read_frame()
                assert got[1] != CLOSE, got
                echoed.append(got[2])
                await asyncio.sleep(0.1)  # the pace of the traffic, not a synchronisation
            assert echoed == [b"tick %d" % i for i in range(12)]
            assert pings == 0  # never silent for ping_interval
        # Our TCP close without a close frame ends the handler (its server does not wait).
        assert await guard(ended) == 1006


@async_test
async def test_a_dead_peer_is_dropped_while_the_handler_is_blocked_in_send() -> None:
    # The peer stops reading and sending: the server's send() waits on a full window
    # until keepalive declares the peer dead; send() then raises WebSocketError(1011).
    seen: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        sent = 0
        try:
            while sent < 1000:  # bounded: 64 MiB, far beyond any socket buffer
                await ws.send(b"x" * 65536)
                sent += 1
        except WebSocketError as exc:
            seen.set_result((exc, sent))

    async with (
        await serve(handler, port=0, ping_interval=0.2, ping_timeout=0.2) as server,
        await RawClient.open(server.port, rcvbuf=4096) as client,
    ):
        await client.handshake()
        start = time.monotonic()
        exc, sent = await guard(seen)
        elapsed = time.monotonic() - start
    assert (exc.code, exc.reason) == KEEPALIVE
    assert 0 < sent < 1000
    assert elapsed >= 0.35, elapsed


@async_test
async def test_client_keepalive_fails_a_server_that_never_answers() -> None:
    pinged: "asyncio.Future[bytes]" = asyncio.get_running_loop().create_future()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        fin, opcode, payload = await read_client_frame(reader)  # read, never answered
        assert (fin, opcode) == (True, PING)
        pinged.set_result(payload)
        fin, opcode, payload = await read_client_frame(reader)
        assert (fin, opcode, payload) == (True, CLOSE, close_payload(*KEEPALIVE))
        assert await guard(reader.read()) == b""

    async with stream_server(session) as port:
        ws = await connect("ws://127.0.0.1:%d/" % port, ping_interval=0.2, ping_timeout=0.2)
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        await ws.close()
    assert (exc.value.code, exc.value.reason) == KEEPALIVE
    assert await guard(pinged) == b"keepalive"


@async_test
async def test_close_gives_up_on_a_peer_that_neither_reads_nor_answers() -> None:
    # Without keepalive: a send fills the window and waits; close() must still return
    # within close_timeout (its close frame cannot even be written) and end the send.
    closed: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        sending = asyncio.create_task(ws.send(b"x" * (16 << 20)))
        await asyncio.sleep(0)  # let the send start writing
        start = time.monotonic()
        await ws.close()
        took = time.monotonic() - start
        await guard(sending)  # the dropped connection ends it too
        closed.set_result((took, sending.done()))

    async with (
        await serve(handler, port=0, close_timeout=0.3) as server,
        await RawClient.open(server.port, rcvbuf=4096) as client,
    ):
        await client.handshake()
        took, done = await guard(closed)
    assert 0.25 <= took < 2.0, took
    assert done
