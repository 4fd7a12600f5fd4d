"""transports.testing.TestClient: handlers run as under serve(), reached in memory.

Every test runs in its own event loop (debug mode) and ends by checking that no task is
left behind. Timeouts are guards that fail a test; nothing waits on a clock to pace it.
"""

import asyncio
import struct
import textwrap
from pathlib import Path

import pytest

from transports.asyncio import WebSocket
from transports.testing import TestClient, WebSocketError, WebSocketResponseError
from wsproto_lite.events import CloseConnection, Pong, TextMessage

GUARD = 10.0  # seconds before a stuck test fails


def run(test):
    """Run the coroutine function `test` in a fresh loop; fail if it leaves a task behind."""

    async def main():
        await asyncio.wait_for(test(), GUARD)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        assert not left, left

    asyncio.run(main(), debug=True)


def frames(raw):
    """(opcode, masked, payload) of each frame after the HTTP head, unmasked by hand."""
    data = bytes(raw[raw.index(b"\r\n\r\n") + 4 :])
    out = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        pos += 2
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        masked = bool(b1 & 0x80)
        key = data[pos : pos + 4] if masked else b"\0\0\0\0"
        pos += 4 if masked else 0
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + length]))
        pos += length
        out.append((b0 & 0x0F, masked, payload))
    return out


async def echo(request, ws):
    async for message in ws:
        await ws.send(message)


def test_echo_text_and_binary_round_trip():
    async def main():
        client = TestClient(echo)
        async with client.websocket("/echo") as ws:
            await ws.send("hi")
            assert await ws.receive() == "hi"
            await ws.send(b"\x00\xff")
            assert await ws.receive() == b"\x00\xff"
            await ws.send("")
            assert await ws.receive() == ""
            await ws.close(1000)
            assert ws.close_code == 1000
        assert ws.handler_exception is None
        assert client.handler_exception is None

    run(main)


def test_exit_closes_1000_and_waits_for_the_handler():
    seen = []

    async def handler(request, ws):
        async for message in ws:
            seen.append(message)
        seen.append(("ended", ws.close_code))

    async def main():
        async with TestClient(handler).websocket() as ws:
            await ws.send("one")
        assert ws.close_code == 1000
        assert seen == ["one", ("ended", 1000)]  # the handler finished before the exit

    run(main)


def test_subprotocol_chosen_by_the_handler_is_visible():
    async def handler(request, ws):
        assert request.subprotocols == ["v2.chat", "chat"]
        await ws.accept(subprotocol="chat", headers=[("x-server", "test")])
        await ws.send(ws.subprotocol)

    async def main():
        client = TestClient(handler)
        async with client.websocket("/", subprotocols=["v2.chat", "chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert ws.response_headers["X-Server"] == "test"
            assert await ws.receive() == "chat"
        assert client.handler_exception is None

    run(main)


def test_headers_path_and_query_visible_in_request():
    got = []

    async def handler(request, ws):
        got.append(request)
        await ws.accept()

    async def main():
        headers = {"Authorization": "Bearer abc", "X-Trace": "1"}
        async with TestClient(handler).websocket("/path?x=1", headers=headers):
            pass
        (request,) = got
        assert request.path == "/path"
        assert request.query == "x=1"
        assert request.headers["authorization"] == "Bearer abc"
        assert request.headers.get("x-trace") == "1"
        assert request.host == "testserver"
        assert request.headers["Host"] == "testserver"

    run(main)


def test_host_header_replaces_the_default_host():
    got = []

    async def handler(request, ws):
        got.append(request.host)
        await ws.accept()

    async def main():
        async with TestClient(handler).websocket("/", headers=[("Host", "example.com:8080")]):
            pass
        assert got == ["example.com:8080"]

    run(main)


def test_reject_with_body_raises_response_error_403():
    async def handler(request, ws):
        await ws.reject(403, b"no token", headers=[("X-Reason", "auth")])

    async def main():
        client = TestClient(handler)
        with pytest.raises(WebSocketResponseError) as info:
            async with client.websocket("/private"):
                raise AssertionError("the block must not run")
        assert info.value.status == 403
        assert info.value.body == b"no token"
        assert info.value.headers["x-reason"] == "auth"
        assert client.handler_exception is None

    run(main)


def test_returning_before_accept_answers_403():
    async def handler(request, ws):
        return

    async def main():
        with pytest.raises(WebSocketResponseError) as info:
            async with TestClient(handler).websocket():
                raise AssertionError("the block must not run")
        assert info.value.status == 403
        assert info.value.body == b""

    run(main)


def test_raising_before_accept_answers_500_and_keeps_the_exception():
    async def handler(request, ws):
        raise ValueError("boom")

    async def main():
        client = TestClient(handler)
        with pytest.raises(WebSocketResponseError) as info:
            async with client.websocket():
                raise AssertionError("the block must not run")
        assert info.value.status == 500
        assert b"boom" not in info.value.body  # no details on the wire
        assert isinstance(client.handler_exception, ValueError)
        assert str(client.handler_exception) == "boom"

    run(main)


def test_raising_after_accept_closes_1011_and_keeps_the_exception():
    async def handler(request, ws):
        await ws.receive()
        raise KeyError("state")

    async def main():
        client = TestClient(handler)
        async with client.websocket() as ws:
            await ws.send("go")
            with pytest.raises(WebSocketError) as info:
                await ws.receive()
            assert info.value.code == 1011
            assert info.value.reason == ""  # no details on the wire
        assert isinstance(ws.handler_exception, KeyError)
        assert client.handler_exception is ws.handler_exception

    run(main)


def test_handler_closing_4000_makes_receive_raise_4000():
    async def handler(request, ws):
        await ws.send("bye soon")
        await ws.close(4000, "custom")

    async def main():
        async with TestClient(handler).websocket() as ws:
            assert await ws.receive() == "bye soon"
            with pytest.raises(WebSocketError) as info:
                await ws.receive()
            assert (info.value.code, info.value.reason) == (4000, "custom")
            assert (ws.close_code, ws.close_reason) == (4000, "custom")
            with pytest.raises(WebSocketError):
                await ws.send("too late")
        # The client echoed the close: the closing handshake completed.
        assert frames(ws.raw_sent)[-1] == (8, True, struct.pack("!H", 4000) + b"custom")

    run(main)


def test_message_over_the_handlers_limit_closes_1009():
    failures = []

    async def handler(request, ws):
        try:
            await ws.receive()
        except WebSocketError as exc:
            failures.append(exc.code)
            raise

    async def main():
        client = TestClient(handler, max_message_length=10)
        async with client.websocket() as ws:
            await ws.send("x" * 11)
            with pytest.raises(WebSocketError) as info:
                await ws.receive()
            assert info.value.code == 1009
        assert failures == [1009]
        assert isinstance(client.handler_exception, WebSocketError)

    run(main)


def test_client_frames_are_masked_and_server_frames_are_not():
    async def main():
        async with TestClient(echo).websocket() as ws:
            await ws.send("hi")
            assert await ws.receive() == "hi"
            await ws.send(b"x" * 300)  # a 16-bit length, masked too
            assert await ws.receive() == b"x" * 300
        assert ws.raw_sent.startswith(b"GET / HTTP/1.1\r\n")
        assert ws.raw_received.startswith(b"HTTP/1.1 101 ")
        sent = frames(ws.raw_sent)
        received = frames(ws.raw_received)
        assert sent == [
            (1, True, b"hi"),
            (2, True, b"x" * 300),
            (8, True, struct.pack("!H", 1000)),
        ]
        assert received == [
            (1, False, b"hi"),
            (2, False, b"x" * 300),
            (8, False, struct.pack("!H", 1000)),
        ]
        # The key is not all zeros, so the wire bytes differ from the payload.
        head = ws.raw_sent.index(b"\r\n\r\n") + 4
        assert ws.raw_sent[head + 6 : head + 8] != b"hi"

    run(main)


def test_client_abort_cancels_a_handler_busy_elsewhere():
    events = []

    async def handler(request, ws):
        try:
            await ws.send("ready")
            await asyncio.Event().wait()  # never set: only a cancellation ends this
            events.append("wait returned")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            events.append("cleanup")

    async def main():
        client = TestClient(handler)
        async with client.websocket() as ws:
            assert await ws.receive() == "ready"
            ws.abort()
        assert events == ["cancelled", "cleanup"]
        assert ws.close_code == 1006
        assert client.handler_exception is None  # a cancellation is not a failure
        assert ws.server.close_code == 1006

    run(main)


def test_client_abort_raises_1006_in_a_handler_waiting_in_receive():
    events = []

    async def handler(request, ws):
        try:
            await ws.send("ready")
            await ws.receive()
            events.append("receive returned")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        except WebSocketError as exc:
            events.append(exc.code)
            raise

    async def main():
        client = TestClient(handler)
        async with client.websocket() as ws:
            assert await ws.receive() == "ready"
            ws.abort()
        assert events == [1006]
        assert ws.server.close_code == 1006

    run(main)


def test_ping_is_answered_with_a_pong_event():
    async def main():
        async with TestClient(echo).websocket() as ws:
            await ws.ping(b"are you there")
            assert await ws.receive_event() == Pong(b"are you there")
            await ws.send("after")
            assert await ws.receive_event() == TextMessage("after")

    run(main)


def test_handler_ping_is_answered_and_receive_skips_it():
    pongs = []

    async def handler(request, ws):
        await ws.ping(b"p")
        await ws.send("msg")
        await ws.receive()  # the client's close

    async def main():
        async with TestClient(handler).websocket() as ws:
            assert await ws.receive() == "msg"
        assert frames(ws.raw_received)[0] == (9, False, b"p")
        pongs.extend(f for f in frames(ws.raw_sent) if f[0] == 10)
        assert pongs == [(10, True, b"p")]

    run(main)


def test_receive_event_gives_the_close_once_then_raises():
    async def handler(request, ws):
        await ws.accept()
        await ws.close(1001, "going")

    async def main():
        async with TestClient(handler).websocket() as ws:
            assert await ws.receive_event() == CloseConnection(1001, "going")
            with pytest.raises(WebSocketError) as info:
                await ws.receive_event()
            assert info.value.code == 1001

    run(main)


def test_large_messages_pass_both_ways_under_backpressure():
    big = bytes(range(256)) * 1200  # 300 KiB: above the 64 KiB write mark, 256 KiB read mark

    async def main():
        async with TestClient(echo, max_message_length=0).websocket() as ws:
            await ws.send(big)
            assert await ws.receive() == big
            await ws.send(big.decode("latin-1"))
            assert await ws.receive() == big.decode("latin-1")

    run(main)


def test_handler_that_never_answers_times_out_the_handshake_and_is_cancelled():
    events = []

    async def handler(request, ws):
        try:
            await asyncio.get_running_loop().create_future()  # never accepts
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main():
        with pytest.raises(WebSocketError) as info:
            async with TestClient(handler, timeout=0.2).websocket():
                raise AssertionError("the block must not run")
        assert info.value.code == 1006
        assert events == ["cancelled"]

    run(main)


def test_handler_that_outlives_the_connection_times_out_the_exit_and_is_cancelled():
    events = []

    async def handler(request, ws):
        await ws.accept()
        try:
            await ws.receive()
        except WebSocketError:
            pass
        try:
            await asyncio.get_running_loop().create_future()  # ignores the close
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            async with TestClient(handler, timeout=0.2).websocket():
                pass
        assert events == ["cancelled"]

    run(main)


def test_error_in_the_block_propagates_after_cleanup():
    events = []

    async def handler(request, ws):
        async for _ in ws:
            pass
        events.append("ended")

    async def main():
        with pytest.raises(ZeroDivisionError):
            async with TestClient(handler).websocket() as ws:
                await ws.send("x")
                1 / 0  # noqa: B018
        assert events == ["ended"]
        assert ws.close_code == 1000

    run(main)


def test_websocket_class_option_is_used_for_the_handlers_side():
    class Small(WebSocket):
        max_message_length = 4

    async def main():
        async with TestClient(echo, websocket_class=Small).websocket() as ws:
            assert isinstance(ws.server, Small)
            await ws.send("12345")
            with pytest.raises(WebSocketError) as info:
                await ws.receive()
            assert info.value.code == 1009

    run(main)


def test_socket_options_are_refused():
    with pytest.raises(TypeError, match="port"):
        TestClient(echo, port=8000)
    with pytest.raises(ValueError):
        TestClient(echo).websocket("no-slash")


def test_handler_that_stops_reading_slows_the_client_sender():
    go = asyncio.Event()
    got = []
    chunk = b"c" * 65536
    count = 12  # 768 KiB: past the server's 256 KiB read mark and the 64 KiB write mark

    async def handler(request, ws):
        await ws.accept()
        await go.wait()
        for _ in range(count):
            got.append(await ws.receive())

    async def main():
        async with TestClient(handler, max_message_length=0).websocket() as ws:

            async def send_all():
                for _ in range(count):
                    await ws.send(chunk)

            sender = asyncio.create_task(send_all())
            for _ in range(100):  # turns of the loop, not time: the sender must be stuck
                await asyncio.sleep(0)
            assert not sender.done()
            assert len(ws.raw_sent) < count * len(chunk)
            go.set()
            await sender
        assert got == [chunk] * count

    run(main)


def test_handler_that_never_reads_cannot_hang_the_exit():
    events = []

    async def handler(request, ws):
        await ws.accept()
        try:
            await asyncio.get_running_loop().create_future()  # never reads
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main():
        client = TestClient(handler, timeout=0.2, max_message_length=0)
        async with client.websocket() as ws:
            await ws.send("first")  # waits for receive(): the server stops parsing here
            await ws.send(b"x" * 300_000)  # unparsed past 256 KiB: the server stops reading
        # Our close frame was never read: the close timed out and the connection was dropped.
        assert ws.close_code == 1006
        assert events == ["cancelled"]

    run(main)


# -- docs/testing.rst ----------------------------------------------------------------------

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "testing.rst"


def python_blocks(path):
    """(line number, code) of every ``.. code-block:: python`` in a reST file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != ".. code-block:: python":
            i += 1
            continue
        i += 1
        while i < len(lines) and lines[i].strip().startswith(":"):
            i += 1  # directive options
        start = i
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            i += 1
        yield start + 1, textwrap.dedent("\n".join(lines[start:i]))


def test_documentation_examples_run():
    # The page's blocks run in order in one namespace; then every test_* they define runs.
    namespace = {"__name__": "docs_testing"}
    blocks = list(python_blocks(DOCS_PAGE))
    assert len(blocks) >= 5
    for line, code in blocks:
        exec(compile(code, "%s:%d" % (DOCS_PAGE, line), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) >= 6
    for test in tests:
        test()
