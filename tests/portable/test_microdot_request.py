"""transports.uasyncio under a framework that parsed the HTTP request itself (Microdot's shape).

Microdot reads the request line and headers, then hands the route a request with
`method`, `path`, `query_string` (None without a "?"), `headers` (a dict keyed as the
client wrote the names) and `sock = (reader, writer)`. websocket_upgrade() answers
from that object and returns a WebSocket; with_websocket() wraps a route. The other
end here is a raw WSConnection client over in-memory streams, so every byte the
server sends is checked by a second parser. Runs on CPython and MicroPython.
"""

import asyncio

from _streams import stream_pair

from transports._common import WebSocketError
from transports.uasyncio import _microdot_done, websocket_upgrade, with_websocket
from wsproto_lite import ConnectionType, WSConnection
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

MASK_KEY = b"\x37\xfa\x21\x3d"


class MicrodotLikeRequest:
    """The attributes of microdot.Request that a WebSocket upgrade reads or calls."""

    def __init__(self, method, url, headers, sock):
        self.method = method
        self.path = url
        self.query_string = None  # Microdot: None, not "", when the URL has no "?"
        if "?" in url:
            self.path, self.query_string = url.split("?", 1)
        self.headers = headers
        self.sock = sock
        self.after_request_handlers = []

    def after_request(self, f):
        self.after_request_handlers.append(f)
        return f


def parse_head(data):
    """Request line and headers as Microdot parses them: names kept as the client wrote them."""
    lines = data.decode().split("\r\n")
    method, url, _ = lines[0].split()
    headers = {}
    for line in lines[1:]:
        if line == "":
            break
        name, value = line.split(":", 1)
        headers[name] = value.strip()
    return method, url, headers


def raw_client():
    return WSConnection(ConnectionType.CLIENT, random_bytes=lambda n: (MASK_KEY * (n // 4 + 1))[:n])


def microdot_request(target="/ws?room=1", drop=None):
    """(raw client, its stream, a Microdot-shaped request over the server's stream)."""
    conn = raw_client()
    head = conn.send(Request(host="board.local", target=target))
    method, url, headers = parse_head(head)
    if drop is not None:
        del headers[drop]
    client_end, server_end = stream_pair()
    return conn, client_end, MicrodotLikeRequest(method, url, headers, (server_end, server_end))


async def events_until(client_end, conn, count):
    """Read and parse until `count` events (or end of stream); return them."""
    got = list(conn.events())
    while len(got) < count:
        data = await client_end.read()
        conn.receive_data(data or None)
        got.extend(conn.events())
        if not data:
            break
    return got


async def test_request_has_microdot_header_names():
    _, _, request = microdot_request()
    key = request.headers["Sec-WebSocket-Key"]
    assert len(key) == 24 and key.endswith("=="), key
    assert request.headers == {
        "Host": "board.local",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }, request.headers
    assert (request.method, request.path, request.query_string) == ("GET", "/ws", "room=1")


async def test_websocket_upgrade_answers_101_and_keeps_the_request():
    conn, client_end, request = microdot_request()
    ws = await websocket_upgrade(request)
    events = await events_until(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is AcceptConnection, events
    assert ws.request.path == "/ws"
    assert ws.request.query == "room=1"
    assert ws.request.target == "/ws?room=1"
    assert ws.request.headers.get("sec-websocket-version") == "13"
    assert ws.request.host == "board.local"
    assert ws.request is ws.request  # made from Microdot's request once, when first read
    assert ws.subprotocol is None
    assert not ws.closed
    assert request.after_request_handlers == [_microdot_done]  # Microdot writes nothing after

    client_end.write(conn.send(TextMessage("ping?")))
    assert await ws.receive() == "ping?"
    await ws.send("pong!")
    assert await events_until(client_end, conn, 1) == [TextMessage("pong!")]

    # The server ends it: the client sees 1001, answers, and close() returns.
    closing = asyncio.create_task(ws.close(1001, "going away"))
    events = await events_until(client_end, conn, 1)
    assert events == [CloseConnection(1001, "going away")], events
    client_end.write(conn.send(CloseConnection(1001, "going away")))
    await closing
    assert ws.closed and ws.close_code == 1001
    assert await client_end.read() == b""  # the server closed its side


async def test_with_websocket_runs_an_echo_session_and_closes():
    seen = []

    @with_websocket
    async def echo(request, ws, room=None):
        seen.append((request, room))
        async for message in ws:
            await ws.send(message)
        seen.append(ws.close_code)

    conn, client_end, request = microdot_request()
    route = asyncio.create_task(echo(request, room="1"))  # Microdot passes URL args by name
    events = await events_until(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is AcceptConnection, events

    client_end.write(conn.send(TextMessage("h\u00e9llo \u2603")))
    assert await events_until(client_end, conn, 1) == [TextMessage("h\u00e9llo \u2603")]
    client_end.write(conn.send(BytesMessage(b"\x00\xff" * 200)))
    assert await events_until(client_end, conn, 1) == [BytesMessage(b"\x00\xff" * 200)]
    client_end.write(conn.send(BytesMessage(b"")))  # empty messages are delivered too
    assert await events_until(client_end, conn, 1) == [BytesMessage(b"")]
    client_end.write(conn.send(Ping(b"are you there")))  # answered inside receive()
    assert await events_until(client_end, conn, 1) == [Pong(b"are you there")]

    client_end.write(conn.send(CloseConnection(1000, "done")))
    events = await events_until(client_end, conn, 1)
    assert events == [CloseConnection(1000, "done")], events
    assert await route is None
    assert seen == [(request, "1"), 1000], seen
    assert await client_end.read() == b""  # the server closed its side


async def test_query_string_none_and_a_browser_connection_header():
    conn, client_end, request = microdot_request(target="/chat")
    assert request.query_string is None
    request.headers["Connection"] = "keep-alive, Upgrade"  # Firefox
    ws = await websocket_upgrade(request)
    events = await events_until(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is AcceptConnection, events
    assert ws.request.target == "/chat" and ws.request.query == ""


async def test_missing_key_is_answered_400_and_raises():
    _, client_end, request = microdot_request(drop="Sec-WebSocket-Key")
    try:
        await websocket_upgrade(request)
        raise AssertionError("no WebSocketError")
    except WebSocketError as exc:
        assert exc.code == 1006, exc.code
    reply = await client_end.read()
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"\r\n\r\n" in reply, reply


async def test_with_websocket_does_not_call_the_handler_on_a_bad_upgrade():
    called = []

    @with_websocket
    async def handler(request, ws):
        called.append(ws)

    _, client_end, request = microdot_request(drop="Sec-WebSocket-Key")
    # Answered with 400 already: the route returns None (Microdot is told, by
    # after_request, to write nothing more; test_microdot_app.py runs real Microdot).
    assert await handler(request) is None
    reply = await client_end.read()
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert called == []
    assert request.after_request_handlers == [_microdot_done]


async def test_with_websocket_route_ends_quietly_when_the_peer_closes_under_receive():
    # Microdot's examples loop on `while True: await ws.receive()`: the peer's close
    # raises WebSocketError inside the handler, and the route ends with None, not it.
    @with_websocket
    async def handler(request, ws):
        while True:
            await ws.send(await ws.receive())

    conn, client_end, request = microdot_request()
    route = asyncio.create_task(handler(request))
    events = await events_until(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is AcceptConnection, events
    client_end.write(conn.send(TextMessage("one")))
    assert await events_until(client_end, conn, 1) == [TextMessage("one")]
    client_end.write(conn.send(CloseConnection(1001, "bye")))
    assert await events_until(client_end, conn, 1) == [CloseConnection(1001, "bye")]
    assert await route is None
    assert await client_end.read() == b""  # the server closed its side


async def test_websocket_upgrade_takes_a_message_limit_of_its_own():
    conn, client_end, request = microdot_request()
    ws = await websocket_upgrade(request, max_message_length=10)
    events = await events_until(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is AcceptConnection, events
    client_end.write(conn.send(BytesMessage(b"0123456789")))  # at the limit: delivered
    assert await ws.receive() == b"0123456789"
    client_end.write(conn.send(BytesMessage(b"0123456789A")))  # one byte over: 1009
    try:
        await ws.receive()
        raise AssertionError("no WebSocketError")
    except WebSocketError as exc:
        assert exc.code == 1009, exc.code
    events = await events_until(client_end, conn, 1)
    assert [type(e) for e in events] == [CloseConnection] and events[0].code == 1009, events
