"""transports.asyncio against peers that misbehave: raw sockets and hand-written bytes.

Fragments with control frames between them, pings while the handler is busy, bad frames,
bad requests, stalled handshakes, clients that vanish mid-frame or stop reading, peers
that never answer a ping or a close, and TCP closed without a close frame.
"""

import asyncio
import socket
import struct
import time
from typing import Any, List, Optional

import pytest

from transports.asyncio import (
    Request,
    WebSocket,
    WebSocketError,
    connect,
    serve,
)

from .asyncio_helpers import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawClient,
    async_test,
    close_payload,
    frame,
    guard,
    http_exchange,
    pattern,
    raw_accept,
    read_client_frame,
    stream_server,
    upgrade_request,
)


async def echo(request: Request, ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def send_in(client: RawClient, data: bytes, bytewise: bool) -> None:
    if not bytewise:
        await client.send(data)
        return
    for i in range(len(data)):
        await client.send(data[i : i + 1])


# -- fragments and control frames ------------------------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@async_test
async def test_fragments_with_a_ping_between_are_one_message(bytewise: bool) -> None:
    wire = (
        frame(TEXT, b"Hel", fin=False)
        + frame(PING, b"between")
        + frame(CONT, "lo ✓".encode()[:5], fin=False)  # cuts the check mark in two
        + frame(CONT, "lo ✓".encode()[5:] + b" world")
        + frame(BINARY, b"\x00\x01", fin=False)
        + frame(CONT, b"", fin=False)
        + frame(CONT, b"\x02")
    )
    async with serve(echo) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await send_in(client, wire, bytewise)
        assert await client.read_frame() == (True, PONG, b"between")
        assert await client.read_frame() == (True, TEXT, "Hello ✓ world".encode())
        assert await client.read_frame() == (True, BINARY, b"\x00\x01\x02")
        await client.send(frame(CLOSE, close_payload(1000)))
        assert await client.read_close() == (1000, "")
        assert await client.read_eof() == b""


@async_test
async def test_a_ping_is_answered_while_the_handler_is_not_receiving() -> None:
    release = asyncio.Event()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        await release.wait()  # busy elsewhere, not in receive()
        await ws.send(await ws.receive())

    async with serve(handler) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await client.send(frame(PING, b"are you there"))
        assert await client.read_frame() == (True, PONG, b"are you there")
        await client.send(frame(PING, b""))
        assert await client.read_frame() == (True, PONG, b"")
        release.set()
        await client.send(frame(TEXT, b"now"))
        assert await client.read_frame() == (True, TEXT, b"now")
        assert await client.read_close() == (1000, "")


@async_test
async def test_pongs_are_swallowed() -> None:
    async with serve(echo) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await client.send(frame(PONG, b"unsolicited") + frame(PONG, b"") + frame(TEXT, b"msg"))
        assert await client.read_frame() == (True, TEXT, b"msg")
        await client.send(frame(CLOSE, close_payload(4000, "done")))
        assert await client.read_close() == (4000, "done")


@async_test
async def test_close_code_and_reason_from_a_raw_client_are_echoed() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with serve(handler) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await client.send(frame(CLOSE, close_payload(4000, "see you")))
        assert await client.read_close() == (4000, "see you")
        assert await client.read_eof() == b""
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError)
    assert (exc.code, exc.reason) == (4000, "see you")


# -- bad frames ------------------------------------------------------------------------------


BAD_FRAMES = [
    pytest.param(frame(TEXT, b"plain", mask=None), 1002, id="unmasked"),
    pytest.param(frame(TEXT, b"ok \xff"), 1007, id="invalid-utf8"),
    pytest.param(frame(TEXT, b"\xed\xa0\x80"), 1007, id="surrogate-utf8"),
    pytest.param(frame(0x3, b"x"), 1002, id="reserved-opcode"),
    pytest.param(bytes([0xC1]) + frame(TEXT, b"x")[1:], 1002, id="rsv1"),
    pytest.param(frame(CONT, b"x"), 1002, id="continuation-first"),
    pytest.param(frame(PING, b"x", fin=False), 1002, id="fragmented-ping"),
    pytest.param(frame(PING, b"x" * 126), 1002, id="long-ping"),
    pytest.param(frame(CLOSE, b"\x03"), 1002, id="one-byte-close"),
    pytest.param(frame(CLOSE, close_payload(1005)), 1002, id="close-1005"),
    pytest.param(frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 1002, id="new-start"),
    # announces 2 MiB and sends no payload: refused at the header, nothing read after it
    pytest.param(bytes([0x82, 0xFF]) + (2 << 20).to_bytes(8, "big") + b"\x37\xfa\x21\x3d",
                 1009, id="over-limit-header"),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "code"), BAD_FRAMES)
@async_test
async def test_a_bad_frame_fails_the_connection_with_its_code(wire: bytes, code: int) -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with serve(handler) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await client.send(wire)
        assert (await client.read_close())[0] == code
        assert await client.read_eof() == b""
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError) and exc.code == code


# -- the opening handshake -------------------------------------------------------------------


@async_test
async def test_a_stalled_handshake_is_dropped_after_handshake_timeout() -> None:
    called: List[Request] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        called.append(request)

    async with (
        serve(handler, handshake_timeout=0.5) as server,
        await RawClient.open(server.port) as client,
    ):
        await client.send(upgrade_request()[:40])  # half a request, then silence
        start = time.monotonic()
        assert await client.read_eof() == b""
        elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 3
    assert called == []


BAD_REQUESTS = [
    pytest.param(upgrade_request(key=b""), 400, id="no-key"),
    pytest.param(upgrade_request(key=b"c2hvcnQ="), 400, id="short-key"),
    pytest.param(upgrade_request().replace(b"Upgrade: websocket\r\n", b""), 400, id="no-upgrade"),
    pytest.param(upgrade_request().replace(b"Host: 127.0.0.1\r\n", b""), 400, id="no-host"),
    pytest.param(upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0"), 400, id="http-1.0"),
    pytest.param(b"NONSENSE\r\n\r\n", 400, id="garbage"),
    pytest.param(upgrade_request(method=b"POST"), 405, id="post"),
    pytest.param(upgrade_request(version=b"8"), 426, id="version-8"),
    pytest.param(upgrade_request(extra=b"X-Big: " + b"a" * 20000 + b"\r\n"), 431, id="huge-head"),
]


@pytest.mark.parametrize(("request_bytes", "status"), BAD_REQUESTS)
@async_test
async def test_a_bad_request_gets_its_http_status(request_bytes: bytes, status: int) -> None:
    called: List[Request] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        called.append(request)

    async with serve(handler) as server:
        got, head, _ = await http_exchange(server.port, request_bytes)
    assert got == status, head
    if status == 426:
        assert b"\r\nSec-WebSocket-Version: 13\r\n" in head + b"\r\n"
    if status == 405:
        assert b"\r\nAllow: GET" in head
    assert called == []


# -- peers that vanish, stall or stop reading ----------------------------------------------


VANISH = [
    # header, mask key and 3 of 10 payload bytes, then FIN
    pytest.param(frame(BINARY, b"0123456789")[:9], False, id="mid-frame"),
    pytest.param(b"", False, id="between-frames"),  # FIN, no close frame
    pytest.param(frame(BINARY, b"0123456789")[:9], True, id="mid-frame-reset"),  # RST
]


@pytest.mark.parametrize("busy", [False, True], ids=["in-receive", "elsewhere"])
@pytest.mark.parametrize(("tail", "reset"), VANISH)
@async_test
async def test_a_client_vanishing_cancels_the_handler(busy: bool, tail: bytes, reset: bool) -> None:
    # A handler busy elsewhere is cancelled (its `except CancelledError` cleanup runs); one
    # waiting in receive() learns it there, as WebSocketError(1006) (DESIGN.md section 3).
    loop = asyncio.get_running_loop()
    cleaned: "asyncio.Future[Any]" = loop.create_future()
    handler_task: "asyncio.Future[asyncio.Task[Any]]" = loop.create_future()
    sockets: List[Any] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        handler_task.set_result(asyncio.current_task())
        await ws.accept()
        assert ws._transport is not None
        sockets.append(ws._transport.get_extra_info("socket"))
        try:
            if busy:
                await asyncio.Event().wait()  # never set
            else:
                await ws.receive()
        except asyncio.CancelledError:
            if not cleaned.done():
                cleaned.set_result("cancelled")
            raise
        except WebSocketError as exc:
            if not cleaned.done():
                cleaned.set_result(exc.code)
            raise

    async with serve(handler) as server:
        client = await RawClient.open(server.port)
        try:
            await client.handshake()
            task = await guard(handler_task)
            await client.send(tail)
            if reset:
                client.writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        finally:
            await client.close()
        try:
            assert await guard(cleaned) == ("cancelled" if busy else 1006)
            await guard(asyncio.wait({task}))
            assert task.done()
            # the server's end of the connection is closed, not leaked
            assert sockets and sockets[0].fileno() == -1
        finally:
            task.cancel()  # if the transport did not, so that this failure stays one


@async_test
async def test_a_slow_reader_makes_send_wait_with_a_bounded_buffer() -> None:
    chunk = 64 * 1024
    count = 160  # 10 MiB
    frame_size = chunk + 10  # 64 KiB takes the 8-byte length form
    bound = 64 * 1024 + frame_size  # the transport's high mark plus one message
    loop = asyncio.get_running_loop()
    blocked: "asyncio.Future[int]" = loop.create_future()
    sent: List[int] = []
    sizes: List[int] = []

    class Watched(WebSocket):
        async def _drain(self) -> None:
            # send() waits here exactly when the transport asked us to stop writing.
            assert self._transport is not None
            sizes.append(self._transport.get_write_buffer_size())
            if not blocked.done():
                blocked.set_result(len(sent))
            await super()._drain()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        assert ws._transport is not None
        # a small kernel buffer: the transport's own buffer fills sooner
        ws._transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
        )
        for i in range(count):
            await ws.send(pattern(chunk, seed=i))
            sent.append(i)
            sizes.append(ws._transport.get_write_buffer_size())

    async with (
        serve(handler, websocket_class=Watched) as server,
        await RawClient.open(server.port, rcvbuf=64 * 1024) as client,
    ):
        await client.handshake()
        # the client reads nothing until the handler's send() blocks
        when = await guard(blocked)
        assert when < count
        assert len(sent) < count
        assert max(sizes) <= bound, sizes
        for i in range(count):
            assert await client.read_frame() == (True, BINARY, pattern(chunk, seed=i))
        assert await client.read_close() == (1000, "")
        await client.send(frame(CLOSE, close_payload(1000)))
        assert await client.read_eof() == b""
    assert sent == list(range(count))
    assert max(sizes) <= bound


@async_test
async def test_our_client_sending_to_a_server_that_stops_reading_waits_bounded() -> None:
    chunk = 64 * 1024
    count = 160
    bound = 64 * 1024 + chunk + 14  # high mark plus one masked message
    loop = asyncio.get_running_loop()
    blocked: "asyncio.Future[int]" = loop.create_future()
    release = asyncio.Event()
    sizes: List[int] = []

    class Watched(WebSocket):
        async def _drain(self) -> None:
            assert self._transport is not None
            sizes.append(self._transport.get_write_buffer_size())
            if not blocked.done():
                blocked.set_result(len(sizes))
            await super()._drain()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        await release.wait()  # reads nothing until the client's send() blocks
        for i in range(count):
            assert await read_client_frame(reader) == (True, BINARY, pattern(chunk, seed=i))
        writer.write(frame(CLOSE, close_payload(1000), mask=None))
        assert await read_client_frame(reader) == (True, CLOSE, close_payload(1000))

    async with stream_server(session) as port:
        ws = await connect("ws://127.0.0.1:%d/" % port, websocket_class=Watched)
        assert ws._transport is not None
        ws._transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
        )

        async def send_all() -> None:
            for i in range(count):
                await ws.send(pattern(chunk, seed=i))
                assert ws._transport is not None
                sizes.append(ws._transport.get_write_buffer_size())

        sending = asyncio.create_task(send_all())
        await guard(blocked)
        assert not sending.done()
        release.set()
        await guard(sending, 20)
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert exc.value.code == 1000
        await guard(ws.close())
    assert max(sizes) <= bound, sizes


@async_test
async def test_our_client_gets_a_message_before_the_close_that_followed_it() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        writer.write(
            frame(TEXT, b"last", mask=None) + frame(CLOSE, close_payload(4005, "end"), mask=None)
        )
        assert await read_client_frame(reader) == (True, CLOSE, close_payload(4005, "end"))

    async with stream_server(session) as port, connect("ws://127.0.0.1:%d/" % port) as ws:
        assert await guard(ws.receive()) == "last"
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (4005, "end")


@async_test
async def test_keepalive_closes_a_peer_that_never_answers_pings() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with (
        serve(handler, ping_interval=0.2, ping_timeout=0.2) as server,
        await RawClient.open(server.port) as client,
    ):
        await client.handshake()
        fin, opcode, _ = await client.read_frame()  # read, never answered
        assert (fin, opcode) == (True, PING)
        exc = await guard(seen)
        assert await client.read_close() == (1011, "keepalive ping timeout")
        assert await client.read_eof() == b""
    assert isinstance(exc, WebSocketError)
    assert (exc.code, exc.reason) == (1011, "keepalive ping timeout")


@async_test
async def test_keepalive_keeps_a_peer_that_answers() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send(await ws.receive())

    async with (
        serve(handler, ping_interval=0.1, ping_timeout=0.5) as server,
        await RawClient.open(server.port) as client,
    ):
        await client.handshake()
        payloads = []
        for _ in range(3):  # three pings, each answered; the connection stays up
            fin, opcode, payload = await client.read_frame()
            assert (fin, opcode) == (True, PING)
            payloads.append(payload)
            await client.send(frame(PONG, payload))
        # Any byte from the peer is life (wsproto_lite.keepalive): pongs are not matched.
        assert payloads == [b"keepalive"] * 3
        await client.send(frame(TEXT, b"still here"))
        # a fourth ping may come before the echo
        got = await client.read_frame()
        while got[1] == PING:
            await client.send(frame(PONG, got[2]))
            got = await client.read_frame()
        assert got == (True, TEXT, b"still here")


@async_test
async def test_client_keepalive_gives_up_on_a_server_that_never_answers_pings() -> None:
    pinged: "asyncio.Future[bytes]" = asyncio.get_running_loop().create_future()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        fin, opcode, payload = await read_client_frame(reader)  # read, never answered
        assert (fin, opcode) == (True, PING)
        pinged.set_result(payload)
        fin, opcode, payload = await read_client_frame(reader)
        assert (fin, opcode, payload) == (
            True,
            CLOSE,
            close_payload(1011, "keepalive ping timeout"),
        )
        assert await guard(reader.read()) == b""

    async with (
        stream_server(session) as port,
        connect("ws://127.0.0.1:%d/" % port, ping_interval=0.2, ping_timeout=0.2) as ws,
    ):
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (1011, "keepalive ping timeout")
    assert await guard(pinged)


@async_test
async def test_server_close_returns_within_close_timeout_if_the_peer_never_answers() -> None:
    result: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        start = time.monotonic()
        await ws.close(1000, "bye")
        assert ws._transport is not None
        result.set_result((time.monotonic() - start, ws._transport.is_closing(), ws.closed))

    async with (
        serve(handler, close_timeout=0.5) as server,
        await RawClient.open(server.port) as client,
    ):
        await client.handshake()
        assert await client.read_close() == (1000, "bye")  # read, never answered
        elapsed, closing, closed = await guard(result)
        assert await client.read_eof() == b""
    assert 0.4 <= elapsed < 3
    assert closing and closed


@async_test
async def test_client_close_returns_within_close_timeout_if_the_peer_never_answers() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        fin, opcode, payload = await read_client_frame(reader)
        assert (fin, opcode, payload) == (True, CLOSE, close_payload(1000, "bye"))
        assert await guard(reader.read()) == b""  # never answers; waits for the client

    async with stream_server(session) as port:
        ws = await connect("ws://127.0.0.1:%d/" % port, close_timeout=0.5)
        start = time.monotonic()
        await guard(ws.close(1000, "bye"))
        elapsed = time.monotonic() - start
        assert ws._transport is not None and ws._transport.is_closing()
    assert 0.4 <= elapsed < 3


@async_test
async def test_tcp_closed_without_a_close_frame_is_1006_for_the_client() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        writer.write(frame(TEXT, b"one", mask=None))
        # then the server closes TCP without a close frame

    async with stream_server(session) as port, connect("ws://127.0.0.1:%d/" % port) as ws:
        assert await guard(ws.receive()) == "one"
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert exc.value.code == 1006
        with pytest.raises(WebSocketError) as again:
            await ws.send("x")
        assert again.value.code == 1006
        assert ws.closed and ws.close_code == 1006


@async_test
async def test_tcp_closed_without_a_close_frame_ends_async_for_with_1006() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)

    async with stream_server(session) as port, connect("ws://127.0.0.1:%d/" % port) as ws:
        with pytest.raises(WebSocketError) as exc:
            async for _ in ws:
                pass
    assert exc.value.code == 1006


@async_test
async def test_a_server_frame_that_is_masked_fails_the_client_with_1002() -> None:
    got: "asyncio.Future[Optional[tuple]]" = asyncio.get_running_loop().create_future()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_accept(reader, writer)
        writer.write(frame(TEXT, b"masked"))  # a server must not mask
        fin, opcode, payload = await read_client_frame(reader)
        got.set_result((fin, opcode, payload[:2]))

    async with stream_server(session) as port, connect("ws://127.0.0.1:%d/" % port) as ws:
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert exc.value.code == 1002
    assert await guard(got) == (True, CLOSE, close_payload(1002))


@async_test
async def test_a_handshake_that_never_completes_times_out_on_the_client() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await guard(reader.readuntil(b"\r\n\r\n"))
        await guard(reader.read())  # never answers

    async with stream_server(session) as port:
        start = time.monotonic()
        with pytest.raises(WebSocketError) as exc:
            await connect("ws://127.0.0.1:%d/" % port, open_timeout=0.5)
        elapsed = time.monotonic() - start
    assert exc.value.code == 1006
    assert 0.4 <= elapsed < 3


@async_test
async def test_a_bad_accept_value_fails_the_client_handshake() -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await guard(reader.readuntil(b"\r\n\r\n"))
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
        )
        await guard(reader.read())

    async with stream_server(session) as port:
        with pytest.raises(WebSocketError) as exc:
            await guard(connect("ws://127.0.0.1:%d/" % port))
    assert exc.value.code == 1006
