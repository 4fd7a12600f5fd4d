"""transports.blocking over loopback: against itself, websockets' sync API, our asyncio transport
and raw sockets that misbehave.

Every server started here is stopped and every thread joined (the autouse fixture fails a test
that leaves a thread running); every wait is bounded by a guard that fails the test.
"""

import contextlib
import gc
import logging
import queue
import socket
import socketserver
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.server import ServerConnection

from transports import asyncio as aio
from transports.blocking import (
    Request,
    WebSocket,
    WebSocketError,
    WebSocketResponseError,
    connect,
    serve,
    websocket_upgrade,
    with_websocket,
)

from .blocking_helpers import (
    BINARY,
    CLOSE,
    CONT,
    GUARD,
    PING,
    PONG,
    TEXT,
    RawPeer,
    Worker,
    async_echo,
    asyncio_server,
    blocking_server,
    close_payload,
    echo,
    frame,
    http_exchange,
    new_threads_end,
    pattern,
    raw_server,
    their_client,
    their_echo,
    upgrade_request,
    url,
    websockets_server,
)

MiB = 1 << 20
MESSAGES = ["héllo ✓", b"\x00\xff\x80bin", "", b""]
LOGGER = "wsproto_lite.transports.blocking"
CONNECTION_THREAD = "wsproto_lite connection"  # the name serve() gives its threads


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    new_threads_end(before)
    gc.collect()  # an unclosed socket warns from __del__: an error in this suite


def get(q: "queue.Queue[Any]") -> Any:
    """The next item a handler put, within the guard."""
    return q.get(timeout=GUARD)


SERVERS = ["blocking", "websockets", "asyncio"]


@contextlib.contextmanager
def echo_server(kind: str, limit: Optional[int] = None) -> Iterator[int]:
    """An echo server of each kind on loopback; yields its port. limit: ours' convention."""
    if kind == "blocking":
        with blocking_server(echo, max_message_length=limit) as server:
            yield server.port
    elif kind == "websockets":
        size = 1 * MiB if limit in (None, -1) else (limit or None)
        with websockets_server(their_echo, max_size=size) as port:
            yield port
    else:
        with asyncio_server(async_echo, max_message_length=limit) as port:
            yield port


# -- echo between implementations ----------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_websockets_client_echoes_with_our_server(message: Any) -> None:
    with blocking_server(echo) as server, their_client(server.port) as ws:
        ws.send(message)
        got = ws.recv(timeout=GUARD)
    assert type(got) is type(message) and got == message


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_our_client_echoes_with_each_server(kind: str, message: Any) -> None:
    with echo_server(kind) as port, connect(url(port)) as ws:
        ws.send(message)
        got = ws.receive(timeout=GUARD)
    assert type(got) is type(message) and got == message


@pytest.mark.parametrize("kind", SERVERS)
def test_our_client_sends_with_an_explicit_opcode(kind: str) -> None:
    with echo_server(kind) as port, connect(url(port)) as ws:
        ws.send(b"bytes as text \xe2\x9c\x93", WebSocket.TEXT)
        assert ws.receive(timeout=GUARD) == "bytes as text ✓"
        ws.send("text as bytes ✓", WebSocket.BINARY)
        assert ws.receive(timeout=GUARD) == "text as bytes ✓".encode()
        ws.send(bytearray(b"ba"))
        ws.send(memoryview(b"mv"))
        assert [ws.receive(timeout=GUARD) for _ in range(2)] == [b"ba", b"mv"]


BIG_BINARY = pattern(4 * MiB)
BIG_TEXT = "ab✓" * (4 * MiB // 5)  # 4 MiB of UTF-8, multi-byte code points included


@pytest.mark.parametrize("kind", SERVERS)
def test_our_client_and_each_server_4_mib_with_a_raised_limit(kind: str) -> None:
    with (
        echo_server(kind, limit=8 * MiB) as port,
        connect(url(port), max_message_length=8 * MiB) as ws,
    ):
        ws.send(BIG_BINARY)
        assert ws.receive(timeout=4 * GUARD) == BIG_BINARY
        ws.send(BIG_TEXT)
        assert ws.receive(timeout=4 * GUARD) == BIG_TEXT


def test_websockets_client_and_our_server_4_mib_with_a_raised_limit() -> None:
    with (
        blocking_server(echo, max_message_length=8 * MiB) as server,
        their_client(server.port, max_size=8 * MiB) as ws,
    ):
        ws.send(BIG_BINARY)
        assert ws.recv(timeout=4 * GUARD) == BIG_BINARY
        ws.send(BIG_TEXT)
        assert ws.recv(timeout=4 * GUARD) == BIG_TEXT


def test_websockets_fragmented_message_reaches_our_handler_whole() -> None:
    with blocking_server(echo) as server, their_client(server.port) as ws:
        ws.send(["frag", "mented ", "✓"])
        assert ws.recv(timeout=GUARD) == "fragmented ✓"
        ws.send([b"\x01", b"", b"\x02"])
        assert ws.recv(timeout=GUARD) == b"\x01\x02"


# -- message size limits -------------------------------------------------------------------


def limit_handler(seen: "queue.Queue[Any]") -> Callable[[Request, WebSocket], None]:
    """A handler that echoes until the connection ends, then puts the WebSocketError."""

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            while True:
                ws.send(ws.receive())
        except WebSocketError as exc:
            seen.put(exc)

    return handler


def test_over_our_servers_limit_closes_with_1009_seen_by_websockets_client() -> None:
    seen: "queue.Queue[WebSocketError]" = queue.Queue()
    with (
        blocking_server(limit_handler(seen), max_message_length=1024) as server,
        their_client(server.port) as ws,
    ):
        ws.send(pattern(1024))
        assert ws.recv(timeout=GUARD) == pattern(1024)  # the limit itself is allowed
        ws.send(pattern(1025))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert get(seen).code == 1009


def test_over_our_servers_limit_closes_with_1009_seen_by_our_client() -> None:
    seen: "queue.Queue[WebSocketError]" = queue.Queue()
    with (
        blocking_server(limit_handler(seen), max_message_length=1024) as server,
        connect(url(server.port)) as ws,
    ):
        ws.send("é" * 513)  # 1026 bytes of UTF-8 in 513 characters: the limit counts bytes
        with pytest.raises(WebSocketError) as info:
            ws.receive(timeout=GUARD)
    assert info.value.code == 1009
    assert get(seen).code == 1009


def test_over_our_clients_limit_closes_with_1009_seen_by_websockets_server() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        ws.send(pattern(1025))
        try:
            ws.recv(timeout=GUARD)
        except ConnectionClosed as exc:
            seen.put(exc.rcvd.code if exc.rcvd else None)

    with websockets_server(handler) as port, connect(url(port), max_message_length=1024) as ws:
        with pytest.raises(WebSocketError) as info:
            ws.receive(timeout=GUARD)
        assert info.value.code == 1009
        assert get(seen) == 1009


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_over_our_clients_limit_closes_with_1009_seen_by_our_servers(kind: str) -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        ws.send(pattern(1025))
        try:
            ws.receive(timeout=GUARD)
        except WebSocketError as exc:
            seen.put(exc.code)

    async def async_handler(request: aio.Request, ws: aio.WebSocket) -> None:
        await ws.send(pattern(1025))
        try:
            await ws.receive()
        except aio.WebSocketError as exc:
            seen.put(exc.code)

    if kind == "blocking":
        server: Any = blocking_server(handler)
    else:
        server = asyncio_server(async_handler)
    with server as started:
        port = started if isinstance(started, int) else started.port
        with connect(url(port), max_message_length=1024) as ws:
            with pytest.raises(WebSocketError) as info:
                ws.receive(timeout=GUARD)
            assert info.value.code == 1009
            assert get(seen) == 1009


@pytest.mark.parametrize("limit", [None, -1], ids=["default", "minus-one"])
def test_the_default_limit_is_1_mib(limit: Optional[int]) -> None:
    seen: "queue.Queue[WebSocketError]" = queue.Queue()
    with (
        blocking_server(limit_handler(seen), max_message_length=limit) as server,
        their_client(server.port, max_size=None) as ws,
    ):
        ws.send(pattern(MiB))
        assert ws.recv(timeout=GUARD) == pattern(MiB)
        ws.send(pattern(MiB + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert get(seen).code == 1009


def test_max_message_length_zero_is_no_limit_on_both_sides() -> None:
    big = pattern(3 * MiB)  # over the 1 MiB default both ways
    with (
        blocking_server(echo, max_message_length=0) as server,
        connect(url(server.port), max_message_length=0) as ws,
    ):
        ws.send(big)
        assert ws.receive(timeout=4 * GUARD) == big


def test_the_class_attribute_sets_the_limit_when_no_option_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(WebSocket, "max_message_length", 100)
    seen: "queue.Queue[WebSocketError]" = queue.Queue()
    with blocking_server(limit_handler(seen)) as server, their_client(server.port) as ws:
        ws.send(pattern(100))
        assert ws.recv(timeout=GUARD) == pattern(100)
        ws.send(pattern(101))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=GUARD)
    assert get(seen).code == 1009


def test_connect_refuses_a_negative_limit_other_than_minus_one() -> None:
    with blocking_server(echo) as server, pytest.raises(ValueError):
        connect(url(server.port), max_message_length=-2)


def test_serve_refuses_a_negative_limit_other_than_minus_one() -> None:
    # Refused when serve() is called, not in each connection's thread later.
    with pytest.raises(ValueError):
        serve(echo, "127.0.0.1", 0, max_message_length=-2).shutdown()


# -- close codes and reasons ---------------------------------------------------------------


@contextlib.contextmanager
def recording_server(kind: str, seen: "queue.Queue[Any]") -> Iterator[int]:
    """A server of each kind whose handler receives until the end and puts (code, reason)."""

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            while True:
                ws.receive()
        except WebSocketError as exc:
            seen.put((exc.code, exc.reason))

    async def async_handler(request: aio.Request, ws: aio.WebSocket) -> None:
        try:
            while True:
                await ws.receive()
        except aio.WebSocketError as exc:
            seen.put((exc.code, exc.reason))

    def their_handler(ws: ServerConnection) -> None:
        try:
            while True:
                ws.recv()
        except ConnectionClosed as exc:
            seen.put((exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None)

    if kind == "blocking":
        with blocking_server(handler) as server:
            yield server.port
    elif kind == "websockets":
        with websockets_server(their_handler) as port:
            yield port
    else:
        with asyncio_server(async_handler) as port:
            yield port


@contextlib.contextmanager
def closing_server(kind: str, code: int, reason: str, messages: List[Any]) -> Iterator[int]:
    """A server of each kind whose handler sends `messages`, then closes with code and reason."""

    def handler(request: Request, ws: WebSocket) -> None:
        for message in messages:
            ws.send(message)
        ws.close(code, reason)

    async def async_handler(request: aio.Request, ws: aio.WebSocket) -> None:
        for message in messages:
            await ws.send(message)
        await ws.close(code, reason)

    def their_handler(ws: ServerConnection) -> None:
        for message in messages:
            ws.send(message)
        ws.close(code, reason)

    if kind == "blocking":
        with blocking_server(handler) as server:
            yield server.port
    elif kind == "websockets":
        with websockets_server(their_handler) as port:
            yield port
    else:
        with asyncio_server(async_handler) as port:
            yield port


@pytest.mark.parametrize("kind", SERVERS)
def test_our_client_closes_with_4000_and_a_reason(kind: str) -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with recording_server(kind, seen) as port:
        ws = connect(url(port))
        ws.send("hi")
        start = time.monotonic()
        ws.close(4000, "see you ✓")
        assert time.monotonic() - start < GUARD
        assert (ws.close_code, ws.close_reason) == (4000, "see you ✓")
        assert ws.closed
        with pytest.raises(WebSocketError) as info:
            ws.receive()
        assert (info.value.code, info.value.reason) == (4000, "see you ✓")
        with pytest.raises(WebSocketError):
            ws.send("too late")
        assert get(seen) == (4000, "see you ✓")


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_closing_with_4000_raises_it_from_our_clients_receive(kind: str) -> None:
    with closing_server(kind, 4000, "bye ✓", ["a", b"b"]) as port, connect(url(port)) as ws:
        assert ws.receive(timeout=GUARD) == "a"
        assert ws.receive(timeout=GUARD) == b"b"
        with pytest.raises(WebSocketError) as info:
            ws.receive(timeout=GUARD)
    assert (info.value.code, info.value.reason) == (4000, "bye ✓")
    assert (ws.close_code, ws.close_reason) == (4000, "bye ✓")


def test_websockets_client_closing_with_4000_reaches_our_handler() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with recording_server("blocking", seen) as port, their_client(port) as ws:
        ws.send("hi")
        ws.close(4000, "see you ✓")
        assert ws.close_code == 4000  # our echo of their close
        assert get(seen) == (4000, "see you ✓")


def test_our_server_closing_with_4000_reaches_websockets_client() -> None:
    with closing_server("blocking", 4000, "bye ✓", ["a"]) as port, their_client(port) as ws:
        assert ws.recv(timeout=GUARD) == "a"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye ✓")


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("code", [1000, 1001])
def test_for_loop_ends_quietly_on_a_normal_close(kind: str, code: int) -> None:
    messages = ["one", b"two", "three"]
    with closing_server(kind, code, "", messages) as port, connect(url(port)) as ws:
        got = list(ws)
    assert got == messages
    assert ws.close_code == code


@pytest.mark.parametrize("kind", SERVERS)
def test_for_loop_raises_on_any_other_close(kind: str) -> None:
    got: List[Any] = []
    with (
        closing_server(kind, 4000, "odd", ["one"]) as port,
        connect(url(port)) as ws,
        pytest.raises(WebSocketError) as info,
    ):
        for message in ws:
            got.append(message)
    assert got == ["one"]
    assert (info.value.code, info.value.reason) == (4000, "odd")


def test_our_handlers_for_loop_ends_quietly_when_the_client_closes_with_1000() -> None:
    done: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        got = list(ws)
        done.put((got, ws.close_code))

    with blocking_server(handler) as server:
        with connect(url(server.port)) as ws:
            ws.send("x")
            ws.send(b"y")
        assert get(done) == (["x", b"y"], 1000)
        assert ws.close_code == 1000


# -- subprotocols ---------------------------------------------------------------------------


def subprotocol_handler(seen: "queue.Queue[Any]") -> Callable[[Request, WebSocket], None]:
    """Accepts the last subprotocol the client offers, or none; reports what it saw."""

    def handler(request: Request, ws: WebSocket) -> None:
        chosen = request.subprotocols[-1] if request.subprotocols else None
        ws.accept(subprotocol=chosen)
        seen.put((list(request.subprotocols), ws.subprotocol))
        echo(request, ws)

    return handler


def test_our_client_and_our_server_agree_on_a_subprotocol() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with (
        blocking_server(subprotocol_handler(seen)) as server,
        connect(url(server.port), subprotocols=["chat", "superchat"]) as ws,
    ):
        assert ws.subprotocol == "superchat"
        assert get(seen) == (["chat", "superchat"], "superchat")
        ws.send("x")
        assert ws.receive(timeout=GUARD) == "x"


def test_no_subprotocol_offered_none_agreed() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with blocking_server(subprotocol_handler(seen)) as server, connect(url(server.port)) as ws:
        assert ws.subprotocol is None
        assert get(seen) == ([], None)


def test_websockets_client_gets_the_subprotocol_our_server_picks() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with (
        blocking_server(subprotocol_handler(seen)) as server,
        their_client(server.port, subprotocols=["chat", "superchat"]) as ws,
    ):
        assert ws.subprotocol == "superchat"
        assert get(seen) == (["chat", "superchat"], "superchat")


def test_our_client_gets_the_subprotocol_a_websockets_server_picks() -> None:
    with (
        websockets_server(their_echo, subprotocols=["superchat"]) as port,
        connect(url(port), subprotocols=["chat", "superchat"]) as ws,
    ):
        assert ws.subprotocol == "superchat"


def test_our_client_gets_the_subprotocol_our_asyncio_server_picks() -> None:
    async def handler(request: aio.Request, ws: aio.WebSocket) -> None:
        await ws.accept(subprotocol=request.subprotocols[0])
        await async_echo(request, ws)

    with asyncio_server(handler) as port, connect(url(port), subprotocols=["v2", "v1"]) as ws:
        assert ws.subprotocol == "v2"


# -- how the handler answers the upgrade ----------------------------------------------------


def test_reject_401_with_a_body_reaches_websockets_client_as_invalid_status() -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.reject(401, b"who are you?", headers=[("WWW-Authenticate", "Token")])

    with blocking_server(handler) as server, pytest.raises(InvalidStatus) as info:
        their_client(server.port)
    response = info.value.response
    assert response.status_code == 401
    assert response.body == b"who are you?"
    assert response.headers["WWW-Authenticate"] == "Token"


def test_reject_401_with_a_body_raises_websocket_response_error_from_our_connect() -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.reject(401, "who are you? ✓")

    with blocking_server(handler) as server, pytest.raises(WebSocketResponseError) as info:
        connect(url(server.port))
    assert info.value.status == 401
    assert info.value.body == "who are you? ✓".encode()
    assert info.value.headers["content-length"] == str(len(info.value.body))


def test_our_connect_gets_an_asyncio_servers_rejection() -> None:
    async def handler(request: aio.Request, ws: aio.WebSocket) -> None:
        await ws.reject(401, b"no")

    with asyncio_server(handler) as port, pytest.raises(WebSocketResponseError) as info:
        connect(url(port))
    assert (info.value.status, info.value.body) == (401, b"no")


def test_a_handler_returning_before_accepting_answers_403() -> None:
    called: "queue.Queue[str]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        called.put(request.path)

    with blocking_server(handler) as server:
        with pytest.raises(InvalidStatus) as theirs:
            their_client(server.port, "/a")
        assert theirs.value.response.status_code == 403
        with pytest.raises(WebSocketResponseError) as ours:
            connect(url(server.port, "/b"))
        assert ours.value.status == 403
        assert [get(called), get(called)] == ["/a", "/b"]


def test_a_handler_raising_before_accepting_answers_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        raise RuntimeError("no database")

    with (
        caplog.at_level(logging.ERROR, logger=LOGGER),
        blocking_server(handler) as server,
        pytest.raises(WebSocketResponseError) as info,
    ):
        connect(url(server.port))
    assert info.value.status == 500
    assert b"no database" not in info.value.body
    assert any(r.exc_info and "no database" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize("client", ["ours", "websockets"])
def test_a_handler_raising_after_accepting_closes_with_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture, client: str
) -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.send("hello")
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR, logger=LOGGER), blocking_server(handler) as server:
        if client == "ours":
            with connect(url(server.port)) as ws:
                assert ws.receive(timeout=GUARD) == "hello"
                with pytest.raises(WebSocketError) as ours:
                    ws.receive(timeout=GUARD)
            assert (ours.value.code, ours.value.reason) == (1011, "")
        else:
            with their_client(server.port) as theirs:
                assert theirs.recv(timeout=GUARD) == "hello"
                with pytest.raises(ConnectionClosed) as info:
                    theirs.recv(timeout=GUARD)
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "")
    failures = [r for r in caplog.records if r.name == LOGGER and r.exc_info]
    assert len(failures) == 1
    assert isinstance(failures[0].exc_info[1], RuntimeError)  # type: ignore[index]
    assert "secret detail" in str(failures[0].exc_info[1])  # type: ignore[index]


def test_a_handler_returning_after_accepting_closes_with_1000() -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()

    with (
        blocking_server(handler) as server,
        their_client(server.port) as ws,
        pytest.raises(ConnectionClosed) as info,
    ):
        ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_the_handler_sees_the_request() -> None:
    seen: "queue.Queue[Request]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        seen.put(request)
        ws.accept()

    with (
        blocking_server(handler) as server,
        connect(url(server.port, "/room/1?user=ann"), headers=[("X-Token", "t0k")]),
    ):
        request = get(seen)
        assert request.headers["HOST"] == "127.0.0.1:%d" % server.port
    assert (request.method, request.path, request.query) == ("GET", "/room/1", "user=ann")
    assert request.headers["x-token"] == "t0k"  # case-insensitive


# -- threads: receiving in one, sending in another -----------------------------------------

COUNT = 1000


def test_one_thread_receives_while_another_sends_on_both_ends() -> None:
    # Each end sends COUNT messages from one thread while another thread of the same end
    # receives COUNT: both directions at once on one connection, nothing lost or reordered.
    server_got: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()

        def receive_all() -> List[Any]:
            return [ws.receive(timeout=GUARD) for _ in range(COUNT)]

        receiver = Worker(receive_all, name="handler receiver")
        for i in range(COUNT):
            ws.send("s%d" % i if i % 2 else b"s%d" % i)
        server_got.put(receiver.result(4 * GUARD))

    with blocking_server(handler) as server, connect(url(server.port)) as ws:

        def send_all() -> None:
            for i in range(COUNT):
                ws.send(b"c%d" % i if i % 2 else "c%d" % i)

        sender = Worker(send_all, name="client sender")
        got = [ws.receive(timeout=GUARD) for _ in range(COUNT)]
        sender.result(4 * GUARD)
        assert got == ["s%d" % i if i % 2 else b"s%d" % i for i in range(COUNT)]
        assert get(server_got) == [b"c%d" % i if i % 2 else "c%d" % i for i in range(COUNT)]


def test_close_from_another_thread_wakes_a_blocked_receive_on_our_client() -> None:
    with blocking_server(echo) as server:
        ws = connect(url(server.port), close_timeout=2.0)
        receiver = Worker(ws.receive)  # blocks: the echo server sends nothing unasked
        start = time.monotonic()
        ws.close(4001, "from another thread")
        elapsed = time.monotonic() - start
        error = receiver.exception()
    assert isinstance(error, WebSocketError), error
    assert error.code == 4001
    assert elapsed < 1.0  # the closing handshake completed: no wait for close_timeout
    assert ws.closed


def test_close_from_another_thread_wakes_a_blocked_receive_on_our_server() -> None:
    ready: "queue.Queue[WebSocket]" = queue.Queue()
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()
        ready.put(ws)
        try:
            ws.receive()
        except WebSocketError as exc:
            seen.put(exc)

    with blocking_server(handler, close_timeout=2.0) as server, connect(url(server.port)) as ws:
        server_ws = get(ready)
        client_receiver = Worker(ws.receive)  # so that our client answers the close
        start = time.monotonic()
        server_ws.close(4002, "server going")
        elapsed = time.monotonic() - start
        error = get(seen)
        assert isinstance(error, WebSocketError) and error.code == 4002
        client_error = client_receiver.exception()
    assert isinstance(client_error, WebSocketError)
    assert (client_error.code, client_error.reason) == (4002, "server going")
    assert elapsed < 1.0  # the closing handshake completed: no wait for close_timeout


def test_close_from_another_thread_returns_within_close_timeout_if_the_peer_never_answers() -> None:
    release = threading.Event()

    def silent(peer: RawPeer) -> None:
        peer.accept_upgrade()
        assert peer.read_close(masked=True) == (1000, "")
        release.wait(GUARD)  # reads nothing more, answers nothing

    with raw_server(silent) as port:
        ws = connect(url(port), close_timeout=0.5)
        receiver = Worker(ws.receive)
        start = time.monotonic()
        ws.close()
        elapsed = time.monotonic() - start
        error = receiver.exception()
        release.set()
    assert isinstance(error, WebSocketError), error
    assert 0.4 <= elapsed < 0.5 + 1.0


def test_close_returns_within_close_timeout_while_another_thread_is_stuck_in_send() -> None:
    # DESIGN §3: close() never waits longer than its timeout. Here a peer that stopped
    # reading keeps a send() blocked (its send_timeout is long); close() from another
    # thread must still return within close_timeout and make that send() raise.
    release = threading.Event()
    sending = threading.Event()

    def stalled(peer: RawPeer) -> None:
        peer.accept_upgrade()
        peer.read_exactly(2)  # the big frame's first bytes: send() is under way
        sending.set()
        release.wait(2 * GUARD)  # never reads again

    with raw_server(stalled) as port:
        ws = connect(url(port), close_timeout=0.5, send_timeout=4.0)
        sender = Worker(ws.send, pattern(20 * MiB))
        assert sending.wait(GUARD)
        start = time.monotonic()
        try:
            ws.close()
            elapsed = time.monotonic() - start
        finally:
            error = sender.exception(2 * GUARD)
            release.set()
    assert isinstance(error, WebSocketError), error
    assert elapsed < 0.5 + 1.0, "close() took %.2f s" % elapsed


def test_send_racing_the_peers_close_in_the_receiving_thread_raises_websocket_error() -> None:
    # DESIGN §3: sending and receiving from different threads at once is safe, and a send
    # on a closed connection raises WebSocketError. An earlier stress run got
    # LocalProtocolError from send() about twice in 300 connections (the receiving thread
    # changed the core's state between send()'s check and the core's send()). Now one lock
    # covers both; this runs the race many times with a tiny switch interval.
    errors: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        receiver = Worker(ws.receive)  # takes the peer's close in another thread
        try:
            for _ in range(100_000):  # bounded: ends at the peer's close long before
                ws.send(b"x")
        except WebSocketError:
            errors.put(None)
        except Exception as exc:
            errors.put(exc)
        else:
            errors.put(AssertionError("send() never saw the close"))
        receiver.exception()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with blocking_server(handler) as server:
            for _ in range(30):
                with connect("ws://127.0.0.1:%d/" % server.port, close_timeout=2) as ws:
                    ws.receive()
                    ws.close(1000)
                assert get(errors) is None
    finally:
        sys.setswitchinterval(old)


# -- pings --------------------------------------------------------------------------------


def test_a_ping_is_answered_while_the_handler_is_in_receive() -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.send(ws.receive())

    with blocking_server(handler) as server, RawPeer.connect(server.port) as peer:
        peer.handshake()
        peer.send(frame(PING, b"are you there"))
        assert peer.read_frame() == (True, PONG, b"are you there")
        peer.send(frame(TEXT, b"done"))
        assert peer.read_frame() == (True, TEXT, b"done")
        assert peer.read_close() == (1000, "")
        peer.send(frame(CLOSE, close_payload(1000)))
        assert peer.read_eof() == b""


def test_fragments_with_a_ping_between_are_one_message_and_the_ping_is_answered() -> None:
    def handler(request: Request, ws: WebSocket) -> None:
        ws.send(ws.receive())

    wire = (
        frame(TEXT, b"frag", fin=False)
        + frame(PING, b"between")
        + frame(CONT, b"mented ", fin=False)
        + frame(CONT, "✓".encode())
    )
    with blocking_server(handler) as server, RawPeer.connect(server.port) as peer:
        peer.handshake(then=wire)  # in the same write as the request
        assert peer.read_frame() == (True, PONG, b"between")
        assert peer.read_frame() == (True, TEXT, "fragmented ✓".encode())
        assert peer.read_close() == (1000, "")


def test_websockets_client_ping_is_answered_by_our_receiving_handler() -> None:
    with blocking_server(echo) as server, their_client(server.port) as ws:
        assert ws.ping(b"p1").wait(GUARD)


def test_our_ping_is_answered_by_websockets_and_the_pong_is_swallowed() -> None:
    with websockets_server(their_echo) as port, connect(url(port)) as ws:
        ws.ping(b"p1")
        ws.send("after the ping")
        assert ws.receive(timeout=GUARD) == "after the ping"


# -- timeouts and half-open peers -----------------------------------------------------------


def test_a_half_request_is_dropped_after_handshake_timeout_and_its_thread_ends() -> None:
    called: "queue.Queue[Request]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        called.put(request)

    with blocking_server(handler, handshake_timeout=0.5) as server:
        before = set(threading.enumerate())  # serve_forever's thread included
        with RawPeer.connect(server.port) as peer:
            peer.send(upgrade_request()[:40])  # half a request, then silence
            start = time.monotonic()
            assert peer.read_eof() == b""
            elapsed = time.monotonic() - start
        new_threads_end(before)  # the connection's thread ended with the server still up
    assert 0.4 <= elapsed < 0.5 + 2.0
    assert called.empty()


@pytest.mark.parametrize("side", ["client", "server"])
def test_close_returns_within_close_timeout_if_the_peer_never_answers(side: str) -> None:
    release = threading.Event()
    closed: "queue.Queue[Any]" = queue.Queue()

    def silent_server(peer: RawPeer) -> None:
        peer.accept_upgrade()
        assert peer.read_close(masked=True) == (4000, "bye")
        closed.put(peer.read_eof())  # we answer nothing; our peer must close TCP itself

    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()
        start = time.monotonic()
        ws.close(4000, "bye")
        closed.put(time.monotonic() - start)

    if side == "client":
        with raw_server(silent_server) as port:
            ws = connect(url(port), close_timeout=0.5)
            start = time.monotonic()
            ws.close(4000, "bye")
            elapsed = time.monotonic() - start
            assert get(closed) == b""  # the socket was closed: the raw server saw EOF
    else:
        with (
            blocking_server(handler, close_timeout=0.5) as server,
            RawPeer.connect(server.port) as peer,
        ):
            peer.handshake()
            assert peer.read_close() == (4000, "bye")
            assert peer.read_eof() == b""  # the server closed its socket
            elapsed = get(closed)
            release.set()
    assert 0.4 <= elapsed < 0.5 + 1.0


@pytest.mark.parametrize("side", ["client", "server"])
def test_send_to_a_peer_that_stopped_reading_fails_after_send_timeout(side: str) -> None:
    release = threading.Event()
    outcome: "queue.Queue[Any]" = queue.Queue()

    def timed_send(ws: WebSocket) -> None:
        start = time.monotonic()
        try:
            ws.send(pattern(20 * MiB))
        except WebSocketError as exc:
            outcome.put((exc, time.monotonic() - start, ws.closed))
        else:
            outcome.put((None, time.monotonic() - start, ws.closed))

    def stalled_server(peer: RawPeer) -> None:
        peer.accept_upgrade()
        release.wait(2 * GUARD)  # never reads again: 20 MiB is more than TCP buffers hold

    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()
        timed_send(ws)

    if side == "client":
        with raw_server(stalled_server) as port:
            ws = connect(url(port), send_timeout=0.5)
            timed_send(ws)
            result = get(outcome)
            release.set()
            ws.close()
    else:
        with (
            blocking_server(handler, send_timeout=0.5) as server,
            RawPeer.connect(server.port, rcvbuf=4096) as peer,
        ):
            peer.handshake()
            result = get(outcome)  # the peer reads nothing more
    error, elapsed, closed = result
    assert isinstance(error, WebSocketError) and error.code == 1006, error
    assert 0.4 <= elapsed < 0.5 + 3.0  # a client masks 20 MiB in Python first
    assert closed


def test_receive_timeout_loses_nothing_on_our_client() -> None:
    half_sent = threading.Event()
    send_rest = threading.Event()
    wire = frame(BINARY, pattern(100_000), mask=None)

    def server(peer: RawPeer) -> None:
        peer.accept_upgrade()
        assert send_rest.wait(GUARD)
        send_rest.clear()
        peer.send(wire[:50_000])
        half_sent.set()
        assert send_rest.wait(GUARD)
        peer.send(wire[50_000:] + frame(TEXT, b"then this", mask=None))
        assert peer.read_close(masked=True) == (1000, "")
        peer.send(frame(CLOSE, close_payload(1000), mask=None))

    with raw_server(server) as port, connect(url(port)) as ws:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.2)  # nothing sent yet
        assert time.monotonic() - start >= 0.19
        send_rest.set()
        assert half_sent.wait(GUARD)
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.2)  # half a frame is not a message
        send_rest.set()
        assert ws.receive(timeout=GUARD) == pattern(100_000)
        assert ws.receive() == "then this"
        assert not ws.closed


def test_receive_timeout_loses_nothing_on_our_server() -> None:
    timed_out: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            ws.receive(timeout=0.2)
        except TimeoutError as exc:
            timed_out.put(exc)
        ws.send("later: %s" % ws.receive())

    with blocking_server(handler) as server, connect(url(server.port)) as ws:
        assert isinstance(get(timed_out), TimeoutError)
        ws.send("hello")
        assert ws.receive(timeout=GUARD) == "later: hello"


def test_receive_in_two_threads_at_once_times_out_the_second() -> None:
    with blocking_server(echo) as server, connect(url(server.port)) as ws:
        first = Worker(ws.receive, GUARD)
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.2)
        ws.send("one")
        assert first.result() == "one"


# -- bad input ------------------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param(frame(TEXT, b"plain", mask=None), 1002, id="unmasked"),
    pytest.param(frame(TEXT, b"ok \xff"), 1007, id="invalid-utf8"),
    pytest.param(frame(0x3, b"x"), 1002, id="reserved-opcode"),
    pytest.param(bytes([0xC1]) + frame(TEXT, b"x")[1:], 1002, id="rsv1"),
    pytest.param(frame(CONT, b"x"), 1002, id="continuation-first"),
    pytest.param(frame(PING, b"x" * 126), 1002, id="long-ping"),
    pytest.param(frame(CLOSE, b"\x03"), 1002, id="one-byte-close"),
    # announces 2 MiB and sends no payload: refused at the header
    pytest.param(bytes([0x82, 0xFF]) + (2 * MiB).to_bytes(8, "big") + b"\x37\xfa\x21\x3d",
                 1009, id="over-limit-header"),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "code"), BAD_FRAMES)
def test_a_bad_frame_fails_our_servers_connection_with_its_code(wire: bytes, code: int) -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            ws.receive()
        except WebSocketError as exc:
            seen.put(exc)

    with blocking_server(handler) as server, RawPeer.connect(server.port) as peer:
        peer.handshake()
        peer.send(wire)
        assert peer.read_close()[0] == code
        assert peer.read_eof() == b""
        error = get(seen)
    assert type(error) is WebSocketError and error.code == code


def test_a_masked_server_frame_fails_our_client_with_1002() -> None:
    def server(peer: RawPeer) -> None:
        peer.accept_upgrade()
        peer.send(frame(TEXT, b"masked by a server"))
        assert peer.read_close(masked=True)[0] == 1002

    with (
        raw_server(server) as port,
        connect(url(port)) as ws,
        pytest.raises(WebSocketError) as info,
    ):
        ws.receive(timeout=GUARD)
    assert info.value.code == 1002


def test_tcp_closed_without_a_close_frame_is_1006_for_our_client() -> None:
    def server(peer: RawPeer) -> None:
        peer.accept_upgrade()
        peer.send(frame(TEXT, b"last words", mask=None))
        peer.close()

    with raw_server(server) as port, connect(url(port)) as ws:
        assert ws.receive(timeout=GUARD) == "last words"
        with pytest.raises(WebSocketError) as info:
            for _ in ws:
                pass  # not a normal close: the loop raises
    assert info.value.code == 1006


def test_tcp_closed_without_a_close_frame_is_1006_for_our_handler() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            ws.receive()
        except WebSocketError as exc:
            seen.put(exc.code)

    with blocking_server(handler) as server:
        with RawPeer.connect(server.port) as peer:
            peer.handshake(then=frame(TEXT, b"hal", fin=False)[:4])  # mid-frame, then gone
        assert get(seen) == 1006


BAD_REQUESTS = [
    pytest.param(upgrade_request(key=b""), 400, id="no-key"),
    pytest.param(upgrade_request().replace(b"Upgrade: websocket\r\n", b""), 400, id="no-upgrade"),
    pytest.param(b"NONSENSE\r\n\r\n", 400, id="garbage"),
    pytest.param(upgrade_request(method=b"POST"), 405, id="post"),
    pytest.param(upgrade_request(version=b"8"), 426, id="version-8"),
    pytest.param(upgrade_request(extra=b"X-Big: " + b"a" * 20000 + b"\r\n"), 431, id="huge-head"),
]


@pytest.mark.parametrize(("request_bytes", "status"), BAD_REQUESTS)
def test_a_bad_request_gets_its_http_status(request_bytes: bytes, status: int) -> None:
    called: "queue.Queue[Request]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        called.put(request)

    with blocking_server(handler) as server:
        got, head, _body = http_exchange(server.port, request_bytes)
        assert got == status, head
    assert called.empty()


def test_our_client_refuses_a_bad_accept_value() -> None:
    def server(peer: RawPeer) -> None:
        peer.read_until(b"\r\n\r\n")
        peer.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
        )
        peer.read_eof()

    with raw_server(server) as port, pytest.raises(WebSocketError) as info:
        connect(url(port))
    assert info.value.code == 1006
    assert type(info.value) is WebSocketError


def test_our_client_times_out_a_server_that_never_answers() -> None:
    def server(peer: RawPeer) -> None:
        peer.read_until(b"\r\n\r\n")
        peer.read_eof()

    start = time.monotonic()
    with raw_server(server) as port, pytest.raises(WebSocketError) as info:
        connect(url(port), open_timeout=0.5)
    assert 0.4 <= time.monotonic() - start < 0.5 + 2.0
    assert info.value.code == 1006


# -- many connections, and shutting down ----------------------------------------------------


def test_100_client_threads_echo_20_messages_each() -> None:
    clients, count = 100, 20
    with blocking_server(echo) as server:
        start = threading.Barrier(clients, timeout=4 * GUARD)

        def client(n: int) -> List[Any]:
            with connect(url(server.port)) as ws:
                start.wait()  # every client is connected before any sends
                sent = ["%d:%d" % (n, i) if i % 2 else b"%d:%d" % (n, i) for i in range(count)]
                for message in sent:
                    ws.send(message)
                got = [ws.receive(timeout=4 * GUARD) for _ in range(count)]
                return [sent, got]

        workers = [Worker(client, n, name="client %d" % n) for n in range(clients)]
        results = [w.result(6 * GUARD) for w in workers]
    for sent, got in results:
        assert got == sent


def test_shutdown_with_open_connections_returns_promptly_and_joins_every_thread() -> None:
    n = 5
    in_receive: "queue.Queue[int]" = queue.Queue()
    ended: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()
        in_receive.put(1)
        try:
            ws.receive()
        except WebSocketError as exc:
            ended.put(exc)
        else:
            ended.put(None)

    server = serve(handler, "127.0.0.1", 0, handshake_timeout=30.0)
    loop = Worker(server.serve_forever, name="serve_forever")
    try:
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(connect(url(server.port))) for _ in range(n)]
            receivers = [Worker(ws.receive) for ws in clients]
            for _ in range(n):
                get(in_receive)
            stalled = stack.enter_context(RawPeer.connect(server.port))
            stalled.send(upgrade_request()[:30])  # a connection still in its handshake
            start = time.monotonic()
            server.shutdown()
            elapsed = time.monotonic() - start
            alive = [t for t in threading.enumerate() if t.name == CONNECTION_THREAD]
            errors = [ended.get_nowait() for _ in range(n)]  # shutdown() joined the handlers
            client_errors = [r.exception() for r in receivers]
            assert stalled.read_eof() == b""
    finally:
        server.shutdown()
        loop.result()
    assert elapsed < 2.0, "shutdown() took %.2f s" % elapsed
    assert alive == []
    assert all(isinstance(e, WebSocketError) for e in errors), errors
    assert all(isinstance(e, WebSocketError) for e in client_errors), client_errors


def test_server_as_context_manager_and_shutdown_twice() -> None:
    with serve(echo, "127.0.0.1", 0) as server:
        loop = Worker(server.serve_forever)
        with connect(url(server.port)) as ws:
            ws.send("x")
            assert ws.receive(timeout=GUARD) == "x"
    loop.result()
    server.shutdown()  # a second call does nothing


# -- websocket_upgrade and with_websocket in a thread-based HTTP server ---------------------


class TinyRequest:
    """What a small thread-based framework hands its routes."""

    def __init__(
        self, sock: socket.socket, method: str, target: str, headers: List[Tuple[str, str]]
    ) -> None:
        self.sock = sock
        self.method = method
        self.path, _, self.query = target.partition("?")
        self.headers = headers


class TinyHandler(socketserver.StreamRequestHandler):
    # Unbuffered: readline() takes the head byte by byte, so nothing after it is consumed.
    rbufsize = 0

    def handle(self) -> None:
        method, target, _version = self.rfile.readline().decode("latin-1").split(" ", 2)
        headers = []
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        if ("x-token", "secret") not in [(name.lower(), value) for name, value in headers]:
            body = b"token needed"
            self.wfile.write(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (len(body), body)
            )
            return
        self.server.app(TinyRequest(self.request, method, target, headers))  # type: ignore[attr-defined]


@contextlib.contextmanager
def tiny_server(app: Callable[[TinyRequest], None]) -> Iterator[int]:
    """socketserver.ThreadingTCPServer running TinyHandler, routing to `app`; yields the port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), TinyHandler)
    server.app = app  # type: ignore[attr-defined]
    loop = Worker(server.serve_forever, name="socketserver")
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()  # joins the request threads (block_on_close)
        loop.result()


def upgrading_app(seen: "queue.Queue[Any]") -> Callable[[TinyRequest], None]:
    def app(request: TinyRequest) -> None:
        try:
            ws = websocket_upgrade(request, subprotocol=None, close_timeout=2.0)
        except WebSocketError as exc:
            seen.put(exc)
            return
        seen.put(ws.request)
        with ws:
            echo(ws.request, ws)  # type: ignore[arg-type]

    return app


def test_websocket_upgrade_in_a_thread_based_server_with_websockets_client() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with tiny_server(upgrading_app(seen)) as port:
        with their_client(port, "/chat?room=1", additional_headers={"X-Token": "secret"}) as ws:
            ws.send("hi")
            assert ws.recv(timeout=GUARD) == "hi"
            ws.send(b"\x00")
            assert ws.recv(timeout=GUARD) == b"\x00"
        request = get(seen)
        assert (request.path, request.query) == ("/chat", "room=1")
        assert request.headers["x-token"] == "secret"
        with pytest.raises(InvalidStatus) as info:
            their_client(port, "/chat")
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"token needed"


def test_websocket_upgrade_in_a_thread_based_server_with_our_client() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with tiny_server(upgrading_app(seen)) as port:
        with connect(url(port, "/chat"), headers=[("X-Token", "secret")]) as ws:
            ws.send("hi")
            assert ws.receive(timeout=GUARD) == "hi"
        assert get(seen).path == "/chat"
        with pytest.raises(WebSocketResponseError) as info:
            connect(url(port, "/chat"))
        assert (info.value.status, info.value.body) == (401, b"token needed")


def test_websocket_upgrade_answers_a_request_that_is_not_an_upgrade_with_400() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()
    with tiny_server(upgrading_app(seen)) as port:
        status, _head, _body = http_exchange(
            port, b"GET /chat HTTP/1.1\r\nHost: x\r\nX-Token: secret\r\n\r\n"
        )
        assert status == 400
        error = get(seen)
        assert isinstance(error, WebSocketError) and error.code == 1006


def test_with_websocket_runs_the_route_then_closes_with_1000() -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    @with_websocket
    def route(request: TinyRequest, ws: WebSocket, greeting: str) -> str:
        ws.send(greeting)
        seen.put(ws.receive(timeout=GUARD))
        return "done"

    def app(request: TinyRequest) -> None:
        seen.put(route(request, "hello"))

    with tiny_server(app) as port:
        with connect(url(port), headers=[("X-Token", "secret")]) as ws:
            assert ws.receive(timeout=GUARD) == "hello"
            ws.send("bye")
            with pytest.raises(WebSocketError) as info:
                ws.receive(timeout=GUARD)
        assert info.value.code == 1000
        assert [get(seen), get(seen)] == ["bye", "done"]


def test_with_websocket_route_raising_closes_with_1011_and_reraises() -> None:
    # DESIGN §3: an exception escaping the handler closes with 1011 and no details on the
    # wire; with_websocket leaves the exception to the framework (it re-raises).
    seen: "queue.Queue[Any]" = queue.Queue()

    @with_websocket
    def route(request: TinyRequest, ws: WebSocket) -> None:
        ws.send("hello")
        raise RuntimeError("secret detail")

    def app(request: TinyRequest) -> None:
        try:
            route(request)
        except RuntimeError as exc:
            seen.put(exc)

    with tiny_server(app) as port:
        with connect(url(port), headers=[("X-Token", "secret")]) as ws:
            assert ws.receive(timeout=GUARD) == "hello"
            with pytest.raises(WebSocketError) as info:
                ws.receive(timeout=GUARD)
        assert isinstance(get(seen), RuntimeError)
    assert (info.value.code, info.value.reason) == (1011, "")


def test_our_client_refuses_a_subprotocol_it_did_not_offer() -> None:
    def server(peer: RawPeer) -> None:
        peer.accept_upgrade(extra=b"Sec-WebSocket-Protocol: other\r\n")
        peer.read_eof()

    with raw_server(server) as port, pytest.raises(WebSocketError) as info:
        connect(url(port), subprotocols=["chat"])
    assert info.value.code == 1006
    assert type(info.value) is WebSocketError


def test_connect_to_a_closed_port_raises_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(url(port))


# -- keepalive ------------------------------------------------------------------------------


def test_keepalive_fails_a_silent_peer_with_1011() -> None:
    # The handler waits in receive(); the raw peer reads our ping and never answers.
    seen: "queue.Queue[Any]" = queue.Queue()

    def handler(request: Request, ws: WebSocket) -> None:
        try:
            ws.receive()
        except WebSocketError as exc:
            seen.put(exc)

    with (
        blocking_server(handler, ping_interval=0.2, ping_timeout=0.3) as server,
        RawPeer.connect(server.port) as peer,
    ):
        peer.handshake()
        assert peer.read_frame() == (True, PING, b"keepalive")
        assert peer.read_close() == (1011, "keepalive ping timeout")
        error = get(seen)
    assert type(error) is WebSocketError
    assert (error.code, error.reason) == (1011, "keepalive ping timeout")


def test_keepalive_keeps_an_answering_peer() -> None:
    # The server pings every 50 ms while its handler waits in receive(); our client
    # answers them while it waits in receive() too. Neither side gives up, and the
    # exchange afterwards works.
    def handler(request: Request, ws: WebSocket) -> None:
        ws.accept()
        assert ws.receive() == "go"  # pings go out while this waits
        ws.send("still here")
        ws.receive()

    with (
        blocking_server(handler, ping_interval=0.05, ping_timeout=0.2) as server,
        connect(url(server.port)) as ws,
    ):
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.6)  # several pings come and are answered meanwhile
        assert not ws.closed
        ws.send("go")
        assert ws.receive(timeout=GUARD) == "still here"
