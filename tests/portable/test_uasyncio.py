"""transports.uasyncio driven through in-memory streams: a whole session, on both VMs."""

import asyncio

from _streams import stream_pair

from transports._common import WebSocketError, WebSocketResponseError
from transports.uasyncio import connect, serve_connection
from wsproto_lite import ConnectionType, WSConnection
from wsproto_lite.events import AcceptConnection, CloseConnection, Pong, Request, TextMessage

KEY = b"\x37\xfa\x21\x3d"


async def echo(request, ws):
    async for message in ws:
        await ws.send(message)


async def start(handler, **options):
    client_end, server_end = stream_pair()
    task = asyncio.create_task(serve_connection(server_end, server_end, handler, **options))
    return client_end, server_end, task


def raw_client():
    return WSConnection(ConnectionType.CLIENT, random_bytes=lambda n: (KEY * (n // 4 + 1))[:n])


async def raw_open(client_end, conn):
    client_end.write(conn.send(Request(host="board.local", target="/ws")))
    while True:
        conn.receive_data(await client_end.read())
        events = list(conn.events())
        if events:
            assert type(events[0]) is AcceptConnection, events
            return


async def raw_events(client_end, conn, count):
    got = []
    while len(got) < count:
        data = await client_end.read()
        conn.receive_data(data or None)
        got.extend(conn.events())
        if not data:
            break
    return got


async def test_text_and_binary_echo_over_a_whole_session():
    client_end, _, task = await start(echo)
    ws = await connect("ws://board.local/ws", streams=(client_end, client_end))
    await ws.send("héllo")
    assert await ws.receive() == "héllo"
    await ws.send(b"\x00\xff" * 300)
    assert await ws.receive() == b"\x00\xff" * 300
    await ws.send(b"")
    assert await ws.receive() == b""
    await ws.close(1000, "done")
    await task
    assert ws.close_code == 1000
    assert ws.close_reason == "done"


async def test_fragmented_input_with_a_ping_between_is_one_message_and_a_pong():
    client_end, _, task = await start(echo)
    conn = raw_client()
    await raw_open(client_end, conn)
    # Hand-written masked frames: "Hel" (FIN=0), ping "p", "lo" (continuation, FIN=1).
    client_end.write(b"\x01\x83" + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(b"Hel")))
    client_end.write(b"\x89\x81" + KEY + bytes((ord("p") ^ KEY[0],)))
    client_end.write(b"\x80\x82" + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(b"lo")))
    events = await raw_events(client_end, conn, 2)
    assert events == [Pong(b"p"), TextMessage("Hello")], events
    client_end.write(conn.send(CloseConnection(1000)))
    events = await raw_events(client_end, conn, 1)
    assert events == [CloseConnection(1000, "")], events
    await task


async def test_unmasked_frame_from_a_client_closes_with_1002():
    seen = []

    async def handler(request, ws):
        try:
            await ws.receive()
        except WebSocketError as exc:
            seen.append(exc.code)

    client_end, _, task = await start(handler)
    conn = raw_client()
    await raw_open(client_end, conn)
    client_end.write(b"\x81\x02hi")  # a client frame without a mask
    events = await raw_events(client_end, conn, 1)
    assert len(events) == 1 and type(events[0]) is CloseConnection, events
    assert events[0].code == 1002
    await task
    assert seen == [1002]


async def test_message_over_the_limit_closes_with_1009():
    client_end, _, task = await start(echo, max_message_length=100)
    ws = await connect("ws://board.local/ws", streams=(client_end, client_end))
    await ws.send(b"x" * 101)
    try:
        await ws.receive()
        raise AssertionError("no WebSocketError")
    except WebSocketError as exc:
        assert exc.code == 1009, exc.code
    await task


async def test_handler_that_returns_before_accepting_gives_403():
    async def refuse(request, ws):
        return None

    client_end, _, task = await start(refuse)
    try:
        await connect("ws://board.local/ws", streams=(client_end, client_end))
        raise AssertionError("no WebSocketResponseError")
    except WebSocketResponseError as exc:
        assert exc.status == 403, exc.status
    await task


async def test_handler_sees_the_request_before_rejecting_with_a_body():
    async def auth(request, ws):
        if request.headers.get("Authorization") != "Bearer ok":
            await ws.reject(401, b"who are you?")
            return
        await ws.accept()

    client_end, _, task = await start(auth)
    try:
        await connect("ws://board.local/ws?x=1", streams=(client_end, client_end))
        raise AssertionError("no WebSocketResponseError")
    except WebSocketResponseError as exc:
        assert exc.status == 401
        assert exc.body == b"who are you?"
    await task


async def test_bad_request_gets_400_and_no_handler_call():
    called = []

    async def handler(request, ws):
        called.append(request)

    client_end, _, task = await start(handler)
    client_end.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")  # no Upgrade headers
    reply = await client_end.read()
    assert reply.startswith(b"HTTP/1.1 400"), reply
    await task
    assert called == []


async def test_message_in_the_same_read_as_the_101_is_not_lost():
    async def greet(request, ws):
        await ws.accept()
        await ws.send("welcome")  # lands in the client's buffer together with the 101
        await ws.close()

    client_end, _, task = await start(greet)
    await asyncio.sleep(0)  # let the handler run first (ordering, not timing)
    ws = await connect("ws://board.local/ws", streams=(client_end, client_end))
    assert await ws.receive() == "welcome"
    await ws.close()  # answers the handler's close
    await task
    assert ws.close_code == 1000
