"""transports.asyncio end to end: our serve() against our connect(), over loopback.

The facade contract of DESIGN.md §3: message types and sizes, limits, close codes both
ways, the handler's lifecycle (accept, reject, return, raise), subprotocols, server
shutdown, many connections at once, concurrent send and receive, and the hooks for
frameworks that route requests themselves (websocket_upgrade, with_websocket).
"""

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

from transports.asyncio import (
    Request,
    WebSocket,
    WebSocketError,
    WebSocketResponseError,
    connect,
    serve,
    websocket_upgrade,
    with_websocket,
)

from .asyncio_helpers import (
    CLOSE,
    TEXT,
    RawClient,
    async_test,
    close_payload,
    frame,
    guard,
    http_exchange,
    pattern,
    stream_server,
    upgrade_request,
)

MiB = 1 << 20


def url(port: int, target: str = "/") -> str:
    return "ws://127.0.0.1:%d%s" % (port, target)


async def echo(request: Request, ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


# -- messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["héllo ✓", b"\x00\xff\x80bin", "", b""], ids=repr)
@async_test
async def test_echo_keeps_text_and_binary_apart(message: Any) -> None:
    async with serve(echo) as server, connect(url(server.port)) as ws:
        await ws.send(message)
        got = await guard(ws.receive())
    assert type(got) is type(message)
    assert got == message


@async_test
async def test_16_mib_messages_both_ways_with_a_raised_limit() -> None:
    big = 32 * MiB
    binary = pattern(16 * MiB)
    text = "ab✓" * (16 * MiB // 5)
    async with (
        serve(echo, max_message_length=big) as server,
        connect(url(server.port), max_message_length=big) as ws,
    ):
        await ws.send(binary)
        await ws.send(text)
        assert await guard(ws.receive(), 30) == binary
        assert await guard(ws.receive(), 30) == text


@async_test
async def test_a_message_over_the_server_limit_closes_with_1009() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)
            raise

    async with (
        serve(handler, max_message_length=1000) as server,
        connect(url(server.port)) as ws,
    ):
        await ws.send(b"x" * 1001)
        with pytest.raises(WebSocketError) as client_side:
            await guard(ws.receive())
    assert client_side.value.code == 1009
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError) and exc.code == 1009


@async_test
async def test_a_message_over_the_client_limit_closes_with_1009() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send(b"y" * 2048)
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)

    async with (
        serve(handler) as server,
        connect(url(server.port), max_message_length=2047) as ws,
    ):
        with pytest.raises(WebSocketError) as client_side:
            await guard(ws.receive())
    assert client_side.value.code == 1009
    exc = await guard(seen)
    assert isinstance(exc, WebSocketError) and exc.code == 1009


@async_test
async def test_max_message_length_0_means_no_limit() -> None:
    message = pattern(2 * MiB)
    async with (
        serve(echo, max_message_length=0) as server,
        connect(url(server.port), max_message_length=0) as ws,
    ):
        await ws.send(message)
        assert await guard(ws.receive()) == message


@async_test
async def test_max_message_length_minus_1_is_the_1_mib_default() -> None:
    async with (
        serve(echo, max_message_length=-1) as server,
        connect(url(server.port), max_message_length=0) as ws,
    ):
        await ws.send(pattern(MiB))
        assert await guard(ws.receive()) == pattern(MiB)
        await ws.send(pattern(MiB + 1))
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert exc.value.code == 1009


@async_test
async def test_max_message_length_class_attribute() -> None:
    assert WebSocket.max_message_length == -1

    class Small(WebSocket):
        max_message_length = 100

    async with serve(echo, websocket_class=Small) as server, connect(url(server.port)) as ws:
        await ws.send(b"a" * 100)
        assert await guard(ws.receive()) == b"a" * 100
        await ws.send(b"a" * 101)
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert exc.value.code == 1009


@async_test
async def test_send_opcode_overrides_the_type() -> None:
    async with serve(echo) as server, connect(url(server.port)) as ws:
        await ws.send(b"as text", WebSocket.TEXT)
        await ws.send("as binary", WebSocket.BINARY)
        await ws.send(bytearray(b"ba"))
        await ws.send(memoryview(b"mv"))
        assert await guard(ws.receive()) == "as text"
        assert await guard(ws.receive()) == b"as binary"
        assert await guard(ws.receive()) == b"ba"
        assert await guard(ws.receive()) == b"mv"


@async_test
async def test_ping_from_either_side_and_the_pong_is_swallowed() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.ping(b"from server")
        await ws.send("after the ping")
        assert await ws.receive() == "after the client's ping"
        await ws.send("done")

    async with serve(handler) as server, connect(url(server.port)) as ws:
        await ws.ping("from client")
        await ws.send("after the client's ping")
        assert await guard(ws.receive()) == "after the ping"
        assert await guard(ws.receive()) == "done"
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert exc.value.code == 1000


# -- closing ---------------------------------------------------------------------------------


@async_test
async def test_client_close_code_and_reason_reach_the_handler() -> None:
    seen: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send("hi")
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.set_result(exc)
            raise

    async with serve(handler) as server:
        ws = await connect(url(server.port))
        assert await guard(ws.receive()) == "hi"
        assert not ws.closed
        await guard(ws.close(4000, "bye now"))
        assert ws.closed
        assert (ws.close_code, ws.close_reason) == (4000, "bye now")
        exc = await guard(seen)
    assert isinstance(exc, WebSocketError)
    assert (exc.code, exc.reason) == (4000, "bye now")
    with pytest.raises(WebSocketError) as after:
        await ws.send("too late")
    assert after.value.code == 4000


@async_test
async def test_server_close_code_reaches_the_client() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()  # close() before accepting would reject with 403 instead
        await ws.close(4001, "server says no")

    async with serve(handler) as server, connect(url(server.port)) as ws:
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert (exc.value.code, exc.value.reason) == (4001, "server says no")
        assert (ws.close_code, ws.close_reason) == (4001, "server says no")


@pytest.mark.parametrize("code", [1000, 1001])
@async_test
async def test_async_for_ends_quietly_on_a_normal_close(code: int) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send("a")
        await ws.send(b"b")
        await ws.close(code)

    got = []
    async with serve(handler) as server, connect(url(server.port)) as ws:
        async for message in ws:
            got.append(message)
    assert got == ["a", b"b"]
    assert ws.close_code == code


@pytest.mark.parametrize("code", [1002, 1011, 3000, 4002])
@async_test
async def test_async_for_raises_on_any_other_close(code: int) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send("a")
        await ws.close(code, "why")

    got = []
    async with serve(handler) as server, connect(url(server.port)) as ws:
        with pytest.raises(WebSocketError) as exc:
            async for message in ws:
                got.append(message)
    assert got == ["a"]
    assert (exc.value.code, exc.value.reason) == (code, "why")


@async_test
async def test_a_message_before_the_close_is_delivered_first() -> None:
    # The message and the close arrive in one read: receive() gives the message, then
    # raises with the close.
    async def handler(request: Request, ws: WebSocket) -> None:
        assert await ws.receive() == "last words"
        with pytest.raises(WebSocketError) as exc:
            await ws.receive()
        assert (exc.value.code, exc.value.reason) == (4003, "bye")
        done.set_result(None)

    done: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
    async with serve(handler) as server, await RawClient.open(server.port) as client:
        await client.handshake()
        await client.send(frame(TEXT, b"last words") + frame(CLOSE, close_payload(4003, "bye")))
        assert await client.read_close() == (4003, "bye")
        assert await client.read_eof() == b""
        await guard(done)


# -- the handler's lifecycle -------------------------------------------------------------------


@async_test
async def test_handler_returning_before_accepting_answers_403() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        return None

    async with serve(handler) as server:
        with pytest.raises(WebSocketResponseError) as exc:
            await guard(connect(url(server.port)))
    assert exc.value.status == 403


@async_test
async def test_handler_raising_before_accepting_answers_500_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        raise ValueError("secret detail")

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.transports.asyncio"):
        async with serve(handler) as server:
            with pytest.raises(WebSocketResponseError) as exc:
                await guard(connect(url(server.port)))
    assert exc.value.status == 500
    assert b"secret detail" not in exc.value.body
    assert _logged(caplog, ValueError, "secret detail")


@async_test
async def test_handler_raising_after_accepting_closes_1011_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        raise ValueError("secret detail")

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.transports.asyncio"):
        async with serve(handler) as server, connect(url(server.port)) as ws:
            with pytest.raises(WebSocketError) as exc:
                await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (1011, "")
    assert _logged(caplog, ValueError, "secret detail")


@async_test
async def test_handler_returning_after_accepting_closes_1000() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.send("only this")

    async with serve(handler) as server, connect(url(server.port)) as ws:
        assert await guard(ws.receive()) == "only this"
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
    assert (exc.value.code, exc.value.reason) == (1000, "")


@async_test
async def test_reject_with_status_body_and_headers() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.reject(403, b"go away", headers=[("X-Why", "no token")])
        assert ws.closed

    async with serve(handler) as server:
        with pytest.raises(WebSocketResponseError) as exc:
            await guard(connect(url(server.port)))
    assert exc.value.status == 403
    assert exc.value.body == b"go away"
    assert exc.value.headers.get("x-why") == "no token"


@async_test
async def test_close_before_accepting_rejects_with_403() -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.close()

    async with serve(handler) as server:
        with pytest.raises(WebSocketResponseError) as exc:
            await guard(connect(url(server.port)))
    assert exc.value.status == 403


@async_test
async def test_one_failing_handler_leaves_other_connections_and_the_server_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, ws: WebSocket) -> None:
        async for message in ws:
            if message == "boom":
                raise RuntimeError("boom in one handler")
            await ws.send(message)

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.transports.asyncio"):
        async with (
            serve(handler) as server,
            connect(url(server.port)) as good,
            connect(url(server.port)) as bad,
        ):
            await good.send("one")
            assert await guard(good.receive()) == "one"
            await bad.send("boom")
            with pytest.raises(WebSocketError) as exc:
                await guard(bad.receive())
            assert exc.value.code == 1011
            await good.send("two")
            assert await guard(good.receive()) == "two"
            async with connect(url(server.port)) as later:
                await later.send("three")
                assert await guard(later.receive()) == "three"
    assert _logged(caplog, RuntimeError, "boom in one handler")


def _logged(caplog: pytest.LogCaptureFixture, kind: type, text: str) -> bool:
    return any(
        r.levelno >= logging.ERROR
        and r.exc_info is not None
        and isinstance(r.exc_info[1], kind)
        and text in str(r.exc_info[1])
        for r in caplog.records
    )


# -- the request and subprotocols ---------------------------------------------------------


@async_test
async def test_request_and_subprotocol_negotiation() -> None:
    seen: Dict[str, Any] = {}

    async def handler(request: Request, ws: WebSocket) -> None:
        seen["request"] = request
        seen["same"] = ws.request is request
        seen["before"] = ws.subprotocol
        await ws.accept(subprotocol="x")
        seen["after"] = ws.subprotocol
        await ws.send("ok")

    async with serve(handler) as server:
        port = server.port
        ws = await connect(
            url(port, "/chat/room?user=ann&x=1"),
            subprotocols=["a", "x"],
            headers=[("X-Token", "abc")],
        )
        async with ws:
            assert ws.subprotocol == "x"
            assert await guard(ws.receive()) == "ok"
    request = seen["request"]
    assert request.method == "GET"
    assert request.path == "/chat/room"
    assert request.query == "user=ann&x=1"
    assert request.subprotocols == ["a", "x"]
    assert request.headers["x-token"] == "abc"
    assert request.headers.get("X-TOKEN") == "abc"
    assert "x-token" in request.headers
    assert request.headers.getall("host") == ["127.0.0.1:%d" % port]
    assert seen["same"] and seen["before"] is None and seen["after"] == "x"


@async_test
async def test_no_subprotocol_when_none_is_accepted() -> None:
    async with serve(echo) as server, connect(url(server.port), subprotocols=["a"]) as ws:
        assert ws.subprotocol is None


# -- server shutdown ------------------------------------------------------------------------


@async_test
async def test_server_close_closes_open_connections_with_1001() -> None:
    ended: List[str] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        async for message in ws:  # ends quietly on our own 1001
            await ws.send(message)
        ended.append(request.path)

    server = await serve(handler)
    port = server.port
    clients = [await connect(url(port, "/%d" % i)) for i in range(3)]
    for ws in clients:
        await ws.send("ping")
        assert await guard(ws.receive()) == "ping"
    server.close()
    await guard(server.wait_closed())
    for ws in clients:
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert exc.value.code == 1001
        await guard(ws.close())
    assert sorted(ended) == ["/0", "/1", "/2"]
    with pytest.raises(OSError):
        await connect(url(port))


@async_test
async def test_wait_closed_waits_for_handlers_to_finish() -> None:
    # A handler's cleanup after its connection ended (a database write, a log flush) must
    # finish before wait_closed() returns, or asyncio.run() cancels it on the way out.
    log: List[str] = []

    async def handler(request: Request, ws: WebSocket) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            await asyncio.sleep(0.05)  # stands for slow async cleanup work, not a pace
            log.append("cleaned up")

    server = await serve(handler)
    ws = await connect(url(server.port))
    await ws.send("x")
    assert await guard(ws.receive()) == "x"
    server.close()
    await guard(server.wait_closed())
    assert log == ["cleaned up"]
    await guard(ws.close())


@async_test
async def test_serve_forever_returns_after_close() -> None:
    server = await serve(echo)
    forever = asyncio.create_task(server.serve_forever())
    async with connect(url(server.port)) as ws:
        await ws.send("x")
        assert await guard(ws.receive()) == "x"
    server.close()
    await guard(server.wait_closed())
    await guard(forever)


# -- many connections, concurrent tasks -------------------------------------------------------


@async_test
async def test_200_concurrent_connections_lose_and_reorder_nothing() -> None:
    async def client(port: int, i: int) -> List[Any]:
        async with connect(url(port)) as ws:
            got = []
            for j in range(20):
                await ws.send("c%d m%d" % (i, j) if j % 2 else b"c%d m%d" % (i, j))
            for _ in range(20):
                got.append(await ws.receive())  # the gather below is guarded
            return got

    # backlog above 200: all connects arrive before the loop accepts any of them
    async with serve(echo, backlog=256) as server:
        results = await guard(asyncio.gather(*(client(server.port, i) for i in range(200))), 25)
    for i, got in enumerate(results):
        assert got == ["c%d m%d" % (i, j) if j % 2 else b"c%d m%d" % (i, j) for j in range(20)]


@async_test
async def test_send_and_receive_from_different_tasks_at_once() -> None:
    count = 64
    chunk = 64 * 1024

    async def pump(ws: WebSocket, tag: int) -> List[Any]:
        async def sender() -> None:
            for i in range(count):
                await ws.send(pattern(chunk, seed=tag * 1000 + i))

        async def receiver() -> List[Any]:
            return [await ws.receive() for _ in range(count)]

        _, got = await asyncio.gather(sender(), receiver())
        return got

    server_got: "asyncio.Future[List[Any]]" = asyncio.get_running_loop().create_future()

    async def handler(request: Request, ws: WebSocket) -> None:
        server_got.set_result(await pump(ws, 2))

    async with serve(handler) as server, connect(url(server.port)) as ws:
        client_got = await guard(pump(ws, 1), 20)
        assert await guard(server_got) == [pattern(chunk, seed=1000 + i) for i in range(count)]
    assert client_got == [pattern(chunk, seed=2000 + i) for i in range(count)]


@async_test
async def test_two_tasks_sending_at_once_do_not_interleave_frames() -> None:
    count = 40
    chunk = 100 * 1024  # bigger than the transport's high mark: sends wait for each other

    async with serve(echo) as server, connect(url(server.port)) as ws:

        async def sender(tag: int) -> None:
            for i in range(count):
                await ws.send(pattern(chunk, seed=tag * 1000 + i))

        async def receiver() -> List[Any]:
            return [await ws.receive() for _ in range(2 * count)]

        _, _, got = await guard(asyncio.gather(sender(1), sender(2), receiver()), 20)
    # each sender's messages arrive whole and in its order; the two may interleave
    expected = {pattern(chunk, seed=t * 1000 + i): (t, i) for t in (1, 2) for i in range(count)}
    order = [expected[m] for m in got]  # KeyError: a message arrived damaged
    assert [i for t, i in order if t == 1] == list(range(count))
    assert [i for t, i in order if t == 2] == list(range(count))


@async_test
async def test_a_second_concurrent_receive_is_refused() -> None:
    release = asyncio.Event()

    async def handler(request: Request, ws: WebSocket) -> None:
        await ws.accept()
        await release.wait()
        await ws.send("one")

    async with serve(handler) as server, connect(url(server.port)) as ws:
        tasks = {asyncio.create_task(ws.receive()), asyncio.create_task(ws.receive())}
        done, pending = await guard(asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED))
        assert len(done) == 1 and len(pending) == 1
        with pytest.raises(RuntimeError):
            done.pop().result()
        release.set()
        assert await guard(pending.pop()) == "one"


# -- frameworks that route requests themselves ----------------------------------------------


def _framework(route: Any, wait_closed: bool = False) -> Any:
    """A tiny HTTP server of the kind a framework is: it reads the request head itself,
    answers 401 without an X-Token header, and hands the rest to `route(request)`.

    After the route it closes the writer; `wait_closed` also awaits writer.wait_closed(),
    as asyncio servers do (only test_websocket_upgrade_lets_the_framework_wait_closed
    sets it, so that one failure does not hide the rest).
    """

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await guard(reader.readuntil(b"\r\n\r\n"))
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip()] = value.strip()
        if not any(name.lower() == "x-token" for name in headers):
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        request = SimpleNamespace(
            method=method, path=target, headers=headers, sock=(reader, writer)
        )
        await route(request)

    return stream_server(session, wait_closed=wait_closed)


@async_test
async def test_websocket_upgrade_from_a_framework_route() -> None:
    seen: Dict[str, Any] = {}

    async def route(request: Any) -> None:
        ws = await websocket_upgrade(request)
        seen["path"] = request.path
        async for message in ws:
            await ws.send(message)
        seen["code"] = ws.close_code

    async with _framework(route) as port:
        status, _, _ = await http_exchange(port, upgrade_request(b"/ws"))
        assert status == 401
        async with connect(url(port, "/ws"), headers=[("X-Token", "t")]) as ws:
            await ws.send("through the framework")
            assert await guard(ws.receive()) == "through the framework"
            await ws.send(b"\x01\x02")
            assert await guard(ws.receive()) == b"\x01\x02"
    assert seen == {"path": "/ws", "code": 1000}


@async_test
async def test_websocket_upgrade_lets_the_framework_wait_closed() -> None:
    # After the route, a framework closes its writer and awaits writer.wait_closed() (so
    # does Microdot's writer.aclose()). That must return once the WebSocket is closed.
    async def route(request: Any) -> None:
        ws = await websocket_upgrade(request)
        await ws.close()

    async with (
        _framework(route, wait_closed=True) as port,
        connect(url(port, "/ws"), headers=[("X-Token", "t")]) as ws,
    ):
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert exc.value.code == 1000


@async_test
async def test_websocket_upgrade_keeps_frames_the_framework_already_read() -> None:
    # The first frame comes in the same write as the request: the framework's reader
    # buffered it, and it must reach the WebSocket.
    async def route(request: Any) -> None:
        ws = await websocket_upgrade(request)
        await ws.send(await ws.receive())
        await ws.close()

    async with _framework(route) as port, await RawClient.open(port) as client:
        await client.handshake(b"/ws", b"X-Token: t\r\n", then=frame(TEXT, b"early"))
        assert await client.read_frame() == (True, TEXT, b"early")
        assert await client.read_close() == (1000, "")
        await client.send(frame(CLOSE, close_payload(1000)))
        assert await client.read_eof() == b""


@async_test
async def test_websocket_upgrade_answers_a_bad_request_and_raises() -> None:
    raised: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def route(request: Any) -> None:
        try:
            await websocket_upgrade(request)
        except WebSocketError as exc:
            raised.set_result(exc)

    async with _framework(route) as port:
        bad = upgrade_request(b"/ws", b"X-Token: t\r\n", version=b"8")
        status, head, _ = await http_exchange(port, bad)
    assert status == 426
    assert b"\r\nSec-WebSocket-Version: 13" in head
    assert isinstance(await guard(raised), WebSocketError)


@async_test
async def test_websocket_upgrade_answers_a_post_with_405_and_raises() -> None:
    raised: "asyncio.Future[BaseException]" = asyncio.get_running_loop().create_future()

    async def route(request: Any) -> None:
        try:
            await websocket_upgrade(request)
        except WebSocketError as exc:
            raised.set_result(exc)

    async with _framework(route) as port:
        post = upgrade_request(b"/ws", b"X-Token: t\r\n", method=b"POST")
        status, head, _ = await http_exchange(port, post)
    assert status == 405
    assert b"\r\nallow: get" in head.lower()
    assert isinstance(await guard(raised), WebSocketError)


@async_test
async def test_with_websocket_decorator() -> None:
    closed: List[int] = []

    @with_websocket
    async def route(request: Any, ws: WebSocket) -> None:
        await ws.send("hello " + request.path)
        assert await ws.receive() == "bye"

    async def framework_route(request: Any) -> None:
        await route(request)
        closed.append(1)

    async with (
        _framework(framework_route) as port,
        connect(url(port, "/room"), headers=[("X-Token", "t")]) as ws,
    ):
        assert await guard(ws.receive()) == "hello /room"
        await ws.send("bye")
        with pytest.raises(WebSocketError) as exc:
            await guard(ws.receive())
        assert exc.value.code == 1000
    assert closed == [1]
