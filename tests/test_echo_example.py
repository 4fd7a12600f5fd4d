"""examples/echo_server.py: the page over plain HTTP and the echo over WebSocket.

Most tests start the example's EchoServer on a free port inside asyncio.run() and talk to
it with raw HTTP, the `websockets` client and our own connect(); one runs the command
line in a subprocess and stops it with SIGINT, as Ctrl-C would. Every wait is bounded by
GUARD; nothing sleeps to pace a test.
"""

import asyncio
import contextlib
import importlib.util
import re
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed

from transports.asyncio import WebSocketError, connect

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "echo_server.py"
GUARD = 10.0  # seconds before a stuck step fails the test


def load_example():
    spec = importlib.util.spec_from_file_location("echo_server_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


echo_server = load_example()


def run(scenario):
    """Run an async test body with an overall bound."""
    asyncio.run(asyncio.wait_for(scenario, 3 * GUARD))


@contextlib.asynccontextmanager
async def running_server():
    server = echo_server.EchoServer("127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), GUARD)


async def http_request(port, method, target, headers=""):
    """One request on a fresh connection: (status, headers lower-cased, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        data = await asyncio.wait_for(reader.read(), GUARD)  # the server closes after answering
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), fields, body


def ws_url(server):
    return f"ws://127.0.0.1:{server.port}/ws"


# -- the page ------------------------------------------------------------------------------


def test_get_root_serves_the_page_whose_script_connects_to_ws():
    async def scenario():
        async with running_server() as server:
            status, fields, body = await http_request(server.port, "GET", "/")
        assert status == 200
        assert fields["content-type"] == "text/html; charset=utf-8"
        assert int(fields["content-length"]) == len(body)
        page = body.decode("utf-8")
        assert "<script>" in page
        assert "new WebSocket(url)" in page
        assert 'location.host + "/ws"' in page  # same host and port as the page
        assert "__MAX_MESSAGE__" not in page  # the limit was filled in
        assert "const maxMessage = %d;" % echo_server.MAX_MESSAGE in page

    run(scenario())


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/nothing-here", 404),
        ("POST", "/", 405),
        ("POST", "/ws", 405),
        ("GET", "/ws", 400),  # a plain GET, not an upgrade: websocket_upgrade() answers it
    ],
)
def test_other_requests_get_an_http_error(method, target, status):
    async def scenario():
        async with running_server() as server:
            got, _, _ = await http_request(server.port, method, target)
        assert got == status

    run(scenario())


def test_malformed_request_gets_400():
    async def scenario():
        async with running_server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"NONSENSE\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), GUARD)
            writer.close()
            await writer.wait_closed()
        assert data.startswith(b"HTTP/1.1 400 ")

    run(scenario())


def test_oversize_request_head_gets_431():
    async def scenario():
        async with running_server() as server:
            padding = "X-Padding: %s\r\n" % ("x" * echo_server.HEAD_LIMIT)
            status, _, _ = await http_request(server.port, "GET", "/", padding)
        assert status == 431

    run(scenario())


# -- the echo ------------------------------------------------------------------------------


def test_frame_sent_with_the_upgrade_request_is_echoed():
    # The HTTP server's reader has buffered the frame; websocket_upgrade() must take it over.
    async def scenario():
        async with running_server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
                b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 5.7: "Hello"
                b"\x88\x82\x37\xfa\x21\x3d\x34\x12"  # close 1000
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
            rest = await asyncio.wait_for(reader.read(), GUARD)  # the server closes TCP
            writer.close()
            await writer.wait_closed()
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        assert rest == b"\x81\x05Hello" + b"\x88\x02\x03\xe8"

    run(scenario())


def test_websockets_client_gets_echoes_at_ws():
    async def scenario():
        async with running_server() as server:
            async with websockets_connect(
                ws_url(server), open_timeout=GUARD, close_timeout=GUARD, proxy=None
            ) as ws:
                for message in ["hello", "héllo ✓ 😀", b"\x00\xffbinary", ""]:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), GUARD) == message
                await ws.close(4000, "done here")
            assert ws.close_code == 4000  # the server echoed our close code

    run(scenario())


def test_our_client_gets_echoes_at_ws():
    async def scenario():
        async with running_server() as server:
            async with connect(ws_url(server), open_timeout=GUARD, close_timeout=GUARD) as ws:
                for message in ["hello", b"\x00\xffbinary", "x" * echo_server.MAX_MESSAGE]:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.receive(), GUARD) == message
            assert ws.closed and ws.close_code == 1000

    run(scenario())


def test_message_over_the_limit_closes_1009():
    async def scenario():
        async with running_server() as server:
            ws = await connect(ws_url(server), open_timeout=GUARD, close_timeout=GUARD)
            await ws.send("x" * (echo_server.MAX_MESSAGE + 1))
            with pytest.raises(WebSocketError) as info:
                await asyncio.wait_for(ws.receive(), GUARD)
            await ws.close()
        assert info.value.code == 1009

    run(scenario())


def test_stop_closes_open_websockets_with_1001_and_idle_connections():
    async def scenario():
        server = echo_server.EchoServer("127.0.0.1", 0)
        await server.start()
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
        ours = await connect(ws_url(server), open_timeout=GUARD, close_timeout=GUARD)
        theirs = await websockets_connect(
            ws_url(server), open_timeout=GUARD, close_timeout=GUARD, proxy=None
        )
        await ours.send("ping")
        assert await asyncio.wait_for(ours.receive(), GUARD) == "ping"
        await asyncio.wait_for(server.stop(), GUARD)

        with pytest.raises(WebSocketError) as info:
            await asyncio.wait_for(ours.receive(), GUARD)
        assert (info.value.code, info.value.reason) == (1001, "server stopping")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(theirs.recv(), GUARD)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        await theirs.close()
        # A connection that never sent a request is simply closed.
        assert await asyncio.wait_for(idle_reader.read(), GUARD) == b""
        idle_writer.close()
        await idle_writer.wait_closed()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)

    run(scenario())


# -- the command line ----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_command_line_prints_the_url_serves_and_stops_cleanly_on_ctrl_c():
    async def scenario():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), GUARD)).decode()
            match = re.fullmatch(r"open http://127\.0\.0\.1:(\d+)/ in a browser .*\n", line)
            assert match, line
            port = int(match.group(1))
            status, _, body = await http_request(port, "GET", "/")
            assert status == 200 and b"new WebSocket(" in body
            async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=GUARD) as ws:
                await ws.send("before Ctrl-C")
                assert await asyncio.wait_for(ws.receive(), GUARD) == "before Ctrl-C"
                proc.send_signal(signal.SIGINT)
                with pytest.raises(WebSocketError) as info:
                    await asyncio.wait_for(ws.receive(), GUARD)
                assert info.value.code == 1001
            out, err = await asyncio.wait_for(proc.communicate(), GUARD)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert out.decode().split("\n")[-3:] == ["stopping", "stopped", ""]
        assert b"Traceback" not in err, err.decode()
        assert b"WebSocket closed with code 1001 (server stopping)" in err

    run(scenario())
