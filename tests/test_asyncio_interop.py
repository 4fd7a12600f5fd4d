"""transports.asyncio against other implementations, over loopback.

Our server with the `websockets` asyncio client; our client with a `websockets` server and
with a small asyncio server driving wsproto.WSConnection (asyncio_helpers.wsproto_server).
"""

import asyncio
import logging
from http import HTTPStatus
from typing import Any, List, Tuple

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.http11 import Request as WsRequest

from transports.asyncio import (
    Request,
    WebSocket,
    WebSocketError,
    WebSocketResponseError,
    connect,
    serve,
)

from .asyncio_helpers import async_test, guard, pattern, wsproto_server

MiB = 1 << 20
MESSAGES = ["héllo ✓", b"\x00\xff\x80bin", "", b""]


def url(port: int, target: str = "/") -> str:
    return "ws://127.0.0.1:%d%s" % (port, target)


def their_client(port: int, target: str = "/", **kwargs: Any) -> Any:
    # no proxy from the environment, no keepalive pings of theirs unless asked
    kwargs.setdefault("ping_interval", None)
    return ws_connect(url(port, target), proxy=None, **kwargs)


async def echo(request: Request, ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


# -- our server, the websockets client ---------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
@async_test
async def test_our_server_echoes_to_websockets(message: Any) -> None:
    async with serve(echo) as server, their_client(server.port) as ws:
        await ws.send(message)
        got = await guard(ws.recv())
    assert type(got) is type(message) and got == message


@async_test
async def test_our_server_and_websockets_16_mib() -> None:
    binary = pattern(16 * MiB)
    text = "ab✓" * (16 * MiB // 5)
    async with (
        serve(echo, max_message_length=32 * MiB) as server,
        their_client(server.port, max_size=None) as ws,
    ):
        await ws.send(binary)
        assert await guard(ws.recv(), 30) == binary
        await ws.send(text)
        assert await guard(ws.recv(), 30) == text


@async_test
async def test_websockets_fragmented_message_reaches_our_handler_whole() -> None:
    async with serve(echo) as server, their_client(server.port) as ws:
        await ws.send(["frag", "mented ", "✓"])
        assert await guard(ws.recv()) == "fragmented ✓"
        await ws.send([b"\x01", b"", b"\x02"])
        assert await guard(ws.recv()) == b"\x01\x02"


@async_test
async def test_our_server_over_the_limit_closes_websockets_with_1009() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with serve(handler) as server, their_client(server.port) as ws:
        await ws.send(b"x" * (MiB + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            await guard(ws.recv())
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError) and exc.code == 1009


@async_test
async def test_our_server_answers_websockets_pings_while_the_handler_is_busy() -> None:
    release = asyncio.Event()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        await release.wait()
        await ws.send(await ws.receive())

    async with serve(handler) as server, their_client(server.port) as ws:
        pong = await ws.ping(b"anyone?")
        await guard(pong)  # answered while the handler waits elsewhere
        release.set()
        await ws.send("go")
        assert await guard(ws.recv()) == "go"


@async_test
async def test_websockets_close_code_reaches_our_handler_and_is_echoed() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with serve(handler) as server, their_client(server.port) as ws:
        await ws.close(4000, "client leaves")
        echo = ws.protocol.close_rcvd  # the close frame our server sent back
        assert echo is not None
        assert (echo.code, echo.reason) == (4000, "client leaves")
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError)
    assert (exc.code, exc.reason) == (4000, "client leaves")


@pytest.mark.parametrize(("code", "reason"), [(4001, "server leaves"), (1000, ""), (1001, "")])
@async_test
async def test_our_server_close_code_reaches_websockets(code: int, reason: str) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send("before")
        await ws.close(code, reason)

    async with serve(handler) as server, their_client(server.port) as ws:
        assert await guard(ws.recv()) == "before"
        with pytest.raises(ConnectionClosed) as closed:
            await guard(ws.recv())
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


@async_test
async def test_our_handler_raising_closes_websockets_with_1011_and_no_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.receive()
        raise KeyError("internal detail")

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.transports.asyncio"):
        async with serve(handler) as server, their_client(server.port) as ws:
            await ws.send("trigger")
            with pytest.raises(ConnectionClosedError) as closed:
                await guard(ws.recv())
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "")
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records), (
        caplog.records
    )


@async_test
async def test_our_reject_gives_websockets_invalid_status() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.reject(403, b"forbidden, sorry", headers=[("X-Why", "token")])

    async with serve(handler) as server:
        with pytest.raises(InvalidStatus) as exc:
            await guard(their_client(server.port))
    response = exc.value.response
    assert response.status_code == 403
    assert response.body == b"forbidden, sorry"
    assert response.headers["X-Why"] == "token"


@async_test
async def test_our_handler_returning_before_accepting_gives_websockets_403() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        return None

    async with serve(handler) as server:
        with pytest.raises(InvalidStatus) as exc:
            await guard(their_client(server.port))
    assert exc.value.response.status_code == 403


@async_test
async def test_our_server_negotiates_a_subprotocol_with_websockets() -> None:
    offered: List[List[str]] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        offered.append(list(request.subprotocols))
        await ws.accept(subprotocol="x")
        await ws.send(ws.subprotocol or "none")

    async with serve(handler) as server, their_client(server.port, subprotocols=["a", "x"]) as ws:
        assert ws.subprotocol == "x"
        assert await guard(ws.recv()) == "x"
    assert offered == [["a", "x"]]


@async_test
async def test_our_server_close_sends_1001_to_websockets() -> None:
    async with serve(echo) as server, their_client(server.port) as ws:
        await ws.send("hi")
        assert await guard(ws.recv()) == "hi"
        server.close()
        await guard(server.wait_closed())
        with pytest.raises(ConnectionClosed) as closed:
            await guard(ws.recv())
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


# -- our client, a websockets server -------------------------------------------------------


async def their_echo(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "close please":
            await ws.close(4001, "as you wish")
        else:
            await ws.send(message)


def their_server(handler: Any = their_echo, **kwargs: Any) -> Any:
    kwargs.setdefault("ping_interval", None)
    return ws_serve(handler, "127.0.0.1", 0, **kwargs)


def port_of(server: Any) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
@async_test
async def test_our_client_with_a_websockets_server(message: Any) -> None:
    async with their_server() as server, connect(url(port_of(server))) as ws:
        await ws.send(message)
        got = await guard(ws.receive())
    assert type(got) is type(message) and got == message


@async_test
async def test_our_client_and_a_websockets_server_16_mib() -> None:
    binary = pattern(16 * MiB)
    text = "ab✓" * (16 * MiB // 5)
    async with (
        their_server(max_size=None) as server,
        connect(url(port_of(server)), max_message_length=32 * MiB) as ws,
    ):
        await ws.send(binary)
        assert await guard(ws.receive(), 30) == binary
        await ws.send(text)
        assert await guard(ws.receive(), 30) == text


@async_test
async def test_a_websockets_server_over_our_client_limit_gets_1009() -> None:
    closed: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"z" * (MiB + 1))
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            closed.set_result(exc.rcvd)

    async with their_server(handler) as server, connect(url(port_of(server))) as ws:
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert exc.value.code == 1009
    rcvd = await guard(closed)
    assert rcvd is not None and rcvd.code == 1009


@async_test
async def test_our_client_answers_pings_from_a_websockets_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        pong = await ws.ping(b"still there?")
        await guard(pong)
        await ws.send("pong received")

    async with their_server(handler) as server, connect(url(port_of(server))) as ws:
        assert await guard(ws.receive()) == "pong received"


@async_test
async def test_close_codes_between_our_client_and_a_websockets_server() -> None:
    received: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            received.set_result(exc.rcvd)

    async with their_server(handler) as server:
        ws = await connect(url(port_of(server)))
        await guard(ws.close(4000, "client leaves"))
        rcvd = await guard(received)
        assert (rcvd.code, rcvd.reason) == (4000, "client leaves")

    async with their_server() as server, connect(url(port_of(server))) as ws:
        await ws.send("close please")
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (4001, "as you wish")


@async_test
async def test_a_websockets_server_rejection_is_a_websocket_response_error() -> None:
    def process_request(connection: ServerConnection, request: WsRequest) -> Any:
        return connection.respond(HTTPStatus.FORBIDDEN, "no entry\n")

    async with their_server(process_request=process_request) as server:
        with pytest.raises(WebSocketResponseError) as exc:
            await guard(connect(url(port_of(server))))
    assert exc.value.status == 403
    assert exc.value.body == b"no entry\n"


@async_test
async def test_our_client_negotiates_a_subprotocol_with_a_websockets_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.subprotocol or "none")

    async with (
        their_server(handler, subprotocols=["x"]) as server,
        connect(url(port_of(server)), subprotocols=["a", "x"]) as ws,
    ):
        assert ws.subprotocol == "x"
        assert await guard(ws.receive()) == "x"


@async_test
async def test_our_async_for_ends_quietly_when_a_websockets_server_returns() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.send(b"two")

    got = []
    async with their_server(handler) as server, connect(url(port_of(server))) as ws:
        async for message in ws:
            got.append(message)
    assert got == ["one", b"two"]
    assert ws.close_code == 1000


# -- our client, a wsproto server -------------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
@async_test
async def test_our_client_with_a_wsproto_server(message: Any) -> None:
    async with wsproto_server() as port, connect(url(port)) as ws:
        await ws.send(message)
        got = await guard(ws.receive())
    assert type(got) is type(message) and got == message


@async_test
async def test_our_client_and_a_wsproto_server_16_mib() -> None:
    binary = pattern(16 * MiB)
    async with (
        wsproto_server(close_timeout=30) as port,
        connect(url(port), max_message_length=32 * MiB) as ws,
    ):
        await ws.send(binary)
        assert await guard(ws.receive(), 30) == binary


@async_test
async def test_our_client_answers_pings_from_a_wsproto_server() -> None:
    async with wsproto_server() as port, connect(url(port)) as ws:
        await ws.send("ping hello")  # the server pings, then reports the pong it got
        assert await guard(ws.receive()) == "pong hello"
        await ws.ping(b"ours")  # its pong is swallowed
        await ws.send("after")
        assert await guard(ws.receive()) == "after"


@async_test
async def test_close_codes_between_our_client_and_a_wsproto_server() -> None:
    async with wsproto_server() as port, connect(url(port)) as ws:
        await ws.send("close 4001 wsproto says bye")
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (4001, "wsproto says bye")

    closes: List[Tuple[int, str]] = []
    async with wsproto_server(closes=closes) as port:
        ws = await connect(url(port))
        await guard(ws.close(4000, "our client leaves"))
        assert (ws.close_code, ws.close_reason) == (4000, "our client leaves")
    assert closes == [(4000, "our client leaves")]


@async_test
async def test_our_client_negotiates_a_subprotocol_with_a_wsproto_server() -> None:
    async with wsproto_server() as port, connect(url(port), subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        await ws.send("x")
        assert await guard(ws.receive()) == "x"
