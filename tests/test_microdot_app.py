"""transports.uasyncio under the real Microdot (CPython asyncio), over 127.0.0.1.

Microdot parses the HTTP request and calls the route; websocket_upgrade() or
with_websocket() take the connection from there. The client is a raw socket driven by
our core, so every byte the server sends is seen, including anything after the
closing handshake: Microdot must write no HTTP response into a finished WebSocket.
"""

import asyncio
import contextlib
import socket
from typing import AsyncIterator

import microdot  # a test dependency (pyproject.toml [test])

from transports.uasyncio import WebSocketError, websocket_upgrade, with_websocket
from wsproto_lite import ConnectionType, WSConnection
from wsproto_lite.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    RejectConnection,
    Request,
    TextMessage,
)

from .asyncio_helpers import async_test


def make_app() -> "microdot.Microdot":
    app = microdot.Microdot()

    @app.route("/decorated")
    @with_websocket
    async def decorated(request: object, ws: object) -> None:
        while True:  # as Microdot's examples loop: the peer's close ends it
            await ws.send(await ws.receive())  # type: ignore[attr-defined]

    @app.route("/direct")
    async def direct(request: object) -> object:
        try:
            ws = await websocket_upgrade(request)
        except WebSocketError:
            return microdot.Response.already_handled
        async with ws:
            async for message in ws:
                await ws.send(message.upper())
        return None

    return app


async def run_client(port: int, target: str, send: "list[Event]") -> "tuple[list[Event], bytes]":
    """Open, send `send` (then read until EOF); return the events and bytes after EOF parsing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, family=socket.AF_INET)
    conn = WSConnection(ConnectionType.CLIENT)
    writer.write(conn.send(Request(host="127.0.0.1", target=target)))
    await writer.drain()
    events: "list[Event]" = []
    raw_after_close = b""
    sent = False
    for _ in range(1000):  # bounded: the server closes after the closing handshake
        data = await reader.read(65536)
        if any(isinstance(e, CloseConnection) for e in events):
            raw_after_close += data  # bytes after the server's close frame
        conn.receive_data(data or None)
        for event in conn.events():
            events.append(event)
            if isinstance(event, AcceptConnection) and not sent:
                sent = True
                for item in send:
                    writer.write(conn.send(item))
            elif isinstance(event, CloseConnection) and conn.state.name == "REMOTE_CLOSING":
                writer.write(conn.send(event.response()))
            elif isinstance(event, RejectConnection):
                sent = True
        await writer.drain()
        if not data:
            break
    writer.close()
    await writer.wait_closed()
    return events, raw_after_close


@contextlib.asynccontextmanager
async def microdot_server() -> "AsyncIterator[tuple[int, list[int]]]":
    """A Microdot app (make_app) on 127.0.0.1; yields its port and the statuses of the
    HTTP responses Microdot writes itself. On leaving, waits for every connection's
    task to finish (bounded), then stops the server."""
    written: "list[int]" = []
    original = microdot.Response.write

    async def spy(response: "microdot.Response", stream: object) -> object:
        written.append(response.status_code)
        return await original(response, stream)

    microdot.Response.write = spy
    before = asyncio.all_tasks()
    server = await make_app().start_server(host="127.0.0.1", port=0, start_serving=False)
    await server.start_serving()
    try:
        yield server.sockets[0].getsockname()[1], written
        # Microdot's dispatch goes on after the route returns (after_request, then a
        # write): let every connection task end before the caller looks at `written`.
        connections = asyncio.all_tasks() - before
        await asyncio.wait_for(asyncio.gather(*connections), 5.0)
    finally:
        microdot.Response.write = original
        server.close()
        await server.wait_closed()


@async_test
async def test_with_websocket_echoes_and_microdot_writes_nothing_after() -> None:
    async with microdot_server() as (port, written):
        events, after = await run_client(
            port, "/decorated", [TextMessage("hello"), CloseConnection(1000, "bye")]
        )
    assert written == []  # no "HTTP/1.1 204" after the WebSocket
    assert type(events[0]) is AcceptConnection, events
    assert events[1:] == [TextMessage("hello"), CloseConnection(1000, "bye")], events
    assert after == b"", after  # no "HTTP/1.1 204" into the finished connection


@async_test
async def test_websocket_upgrade_in_a_route_echoes_and_closes_cleanly() -> None:
    async with microdot_server() as (port, written):
        events, after = await run_client(
            port, "/direct", [TextMessage("abc"), TextMessage("d"), CloseConnection(1001)]
        )
    assert type(events[0]) is AcceptConnection, events
    assert events[1:] == [TextMessage("ABC"), TextMessage("D"), CloseConnection(1001, "")], events
    assert after == b"", after
    assert written == []


@async_test
async def test_a_bad_upgrade_gets_our_400_and_nothing_from_microdot() -> None:
    async with microdot_server() as (port, written):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /decorated HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        reply = b""
        for _ in range(100):  # bounded: the server closes after its answer
            data = await reader.read(65536)
            if not data:
                break
            reply += data
        writer.close()
        await writer.wait_closed()
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert reply.count(b"HTTP/1.") == 1, reply  # no 500 from Microdot after it
    assert written == []
