"""MicroPython asyncio transport: the WebSocket facade over asyncio streams.

Loads on MicroPython (its `asyncio`, streams with read/write/drain/close/wait_closed)
and on CPython (asyncio's StreamReader/StreamWriter pair). Receive-driven: the socket
is read inside receive() and close(), so a connection costs a few small objects and
no task of its own; pings are answered while the application is inside receive().
"""

import asyncio

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite._compat import TYPE_CHECKING
from wsproto_lite.errors import LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    TextMessage,
)
from wsproto_lite.events import Request as RequestEvent

from ._common import (
    BINARY,
    CLOSE,
    CONT,
    NORMAL_CODES,
    PING,
    PONG,
    TEXT,
    HandshakeReply,
    Request,
    WebSocketError,
    WebSocketResponseError,
    client_request,
    message_event,
    message_limit,
    parse_url,
    rejection,
    request_from_event,
)

if TYPE_CHECKING:
    from typing import Any, Awaitable, Callable, List, Optional, Protocol, Tuple, Union

    class Reader(Protocol):
        async def read(self, n: int = -1) -> bytes: ...

    class Writer(Protocol):
        def write(self, data: bytes) -> Any: ...

        async def drain(self) -> None: ...

        def close(self) -> Any: ...

        async def wait_closed(self) -> None: ...

    Handler = Callable[[Request, "WebSocket"], Awaitable[Any]]
    HeaderPairs = List[Tuple[Union[bytes, str], Union[bytes, str]]]

__all__ = [
    "Request",
    "WebSocket",
    "WebSocketError",
    "WebSocketResponseError",
    "connect",
    "serve",
    "websocket_upgrade",
    "with_websocket",
]


def _log_failure(message: str) -> None:
    # logging where it exists (CPython, micropython-lib); print on a bare board.
    try:
        from logging import getLogger
    except ImportError:
        print("wsproto_lite:", message)
        return
    getLogger("wsproto_lite.transports.uasyncio").exception(message)


# Small reads: a board's heap is measured in KiB (the core bounds what a read can cost).
_READ_SIZE = 2048
_OPEN = ConnectionState.OPEN


class WebSocket:
    """One WebSocket connection over a stream pair (the same object twice on MicroPython).

    receive() gives whole messages (str for text, bytes for binary); send() picks text
    or binary from the data's type; close() runs the closing handshake. When the
    connection ends, receive() and send() raise WebSocketError with the close code.
    """

    CONT = CONT
    TEXT = TEXT
    BINARY = BINARY
    CLOSE = CLOSE
    PING = PING
    PONG = PONG

    #: The largest message accepted, in bytes; -1 means the default limit (1 MiB) and 0
    #: means no limit. A larger message closes the connection with 1009, and receive()
    #: raises WebSocketError.
    max_message_length = -1

    def __init__(
        self,
        reader: "Reader",
        writer: "Writer",
        client: bool,
        close_timeout: float = 10.0,
        max_message_length: "Optional[int]" = None,
    ) -> None:
        limit = message_limit(
            self.max_message_length if max_message_length is None else max_message_length
        )
        # The WSConnection during the handshake, its bare Connection once open (_opened):
        # the handshake's objects then go (about 0.8 KiB on MicroPython, docs/micropython).
        self._conn: "Any" = WSConnection(
            ConnectionType.CLIENT if client else ConnectionType.SERVER,
            max_message_size=limit,
            auto_reply=True,
            whole_messages=True,
        )
        self._reader = reader
        self._writer = writer
        self._client = client
        self._lock = asyncio.Lock()  # one writer at a time: write + drain are not atomic
        self._close_code: Optional[int] = None
        self._close_reason = ""
        self._accepted = client
        self._answered = client
        self._eof = False
        self.close_timeout = close_timeout
        #: The upgrade request, the client's on a server and ours on a client.
        self.request: Optional[Request] = None
        #: The subprotocol agreed in the handshake, or None.
        self.subprotocol: Optional[str] = None

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self._close_code is not None or self._conn.state is not _OPEN

    @property
    def close_code(self) -> "Optional[int]":
        """The close code once the connection has ended (1006: lost without a close)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection has ended."""
        return self._close_reason

    # -- handshake -----------------------------------------------------------------------

    async def accept(
        self, subprotocol: "Optional[str]" = None, headers: "Optional[HeaderPairs]" = None
    ) -> None:
        """Server: answer the upgrade with 101 (the first receive() or send() does it too)."""
        if self._accepted:
            return
        if self._answered:
            raise WebSocketError(self._close_code or 1006, "the upgrade was rejected")
        self._answered = self._accepted = True
        self.subprotocol = subprotocol
        await self._send_bytes(
            self._conn.send(AcceptConnection(subprotocol=subprotocol, extra_headers=headers))
        )
        self._opened()

    async def reject(
        self,
        status: int = 403,
        body: "Union[bytes, str]" = b"",
        headers: "Optional[HeaderPairs]" = None,
    ) -> None:
        """Server: answer the upgrade with an HTTP response instead, then close."""
        if self._answered:
            raise LocalProtocolError("the upgrade was answered already")
        self._answered = True
        head, data = rejection(status, body, headers)
        out = self._conn.send(head) + self._conn.send(data)
        await self._send_bytes(out)
        self._close_code = 1006
        self._close_reason = "rejected with HTTP %d" % status
        await self._shutdown()

    # -- messages ------------------------------------------------------------------------

    async def receive(self) -> "Union[str, bytes]":
        """The next message: str for text, bytes for binary.

        Raises WebSocketError once the connection is over.
        """
        if not self._accepted:
            await self.accept()
        while True:
            message = await self._next_message()
            if message is not None:
                return message
            if self._close_code is not None:
                raise WebSocketError(self._close_code, self._close_reason)

    async def _next_message(self) -> "Optional[Union[str, bytes]]":
        # Process what the core holds; read once more only when nothing came of it.
        conn = self._conn
        message = None
        for event in conn.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                message = event.data
                break
            if isinstance(event, CloseConnection):
                if self._close_code is None:
                    self._close_code = int(event.code)
                    self._close_reason = event.reason or ""
                await self._send_bytes(conn.data_to_send())
                if not self._client or type(event) is not CloseConnection:
                    await self._shutdown()  # the server closes TCP first; a failure at once
                return None
        await self._send_bytes(conn.data_to_send())  # pongs
        if message is not None or self._close_code is not None:
            return message
        if self._eof:
            self._close_code = 1006
            self._close_reason = "connection lost"
            return None
        try:
            data = await self._reader.read(_READ_SIZE)
        except OSError:
            data = b""
        if not data:
            self._eof = True
            conn.receive_data(None)
        else:
            conn.receive_data(data)
        return None

    async def send(
        self, data: "Union[str, bytes, bytearray]", opcode: "Optional[int]" = None
    ) -> None:
        """Send a message: str as text, bytes-like as binary, unless `opcode` says otherwise."""
        if not self._accepted:
            await self.accept()
        if opcode == CLOSE:
            await self.close()
            return
        event = message_event(data, opcode)
        if self._close_code is not None or self._conn.state is not _OPEN:
            raise WebSocketError(self._close_code or 1006, self._close_reason)
        await self._send_bytes(self._conn.send(event))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake; gives up after `close_timeout` seconds."""
        if not self._answered:
            await self.reject(403)
            return
        if self._conn.state is _OPEN and self._close_code is None:
            await self._send_bytes(self._conn.send(CloseConnection(code=code, reason=reason)))
            try:
                await asyncio.wait_for(self._await_close(), self.close_timeout)
            except asyncio.TimeoutError:
                pass
            if self._close_code is None:
                self._close_code = code
                self._close_reason = reason
        await self._shutdown()

    async def _await_close(self) -> None:
        # After our close frame: read (and drop data) until the peer's close or EOF.
        while self._close_code is None:
            await self._next_message()

    def __aiter__(self) -> "WebSocket":
        return self

    async def __anext__(self) -> "Union[str, bytes]":
        try:
            return await self.receive()
        except WebSocketError as exc:
            if exc.code in NORMAL_CODES:
                raise StopAsyncIteration from None
            raise

    async def __aenter__(self) -> "WebSocket":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- internals -----------------------------------------------------------------------

    def _opened(self) -> None:
        connection = self._conn.connection
        if connection is not None:
            self._conn = connection

    async def _send_bytes(self, data: bytes) -> None:
        if not data:
            return
        async with self._lock:
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError:
                if self._close_code is None:
                    self._close_code = 1006
                    self._close_reason = "connection lost"

    async def _shutdown(self) -> None:
        try:
            self._writer.close()
            await self._writer.wait_closed()
        except OSError:
            pass

    async def _read_handshake(self, timeout: float) -> "List[Any]":
        # Read until the handshake gives events; returns them (Request, or Accept/Reject).
        async def read() -> "List[Any]":
            while True:
                events = list(self._conn.handshake.events())
                if events:
                    return events
                data = await self._reader.read(_READ_SIZE)
                self._conn.receive_data(data or None)
                if not data:
                    return list(self._conn.handshake.events())

        return await asyncio.wait_for(read(), timeout)


async def _run_handler(ws: WebSocket, handler: "Handler") -> None:
    # The handler lifecycle shared with transports.asyncio (DESIGN.md section 3).
    assert ws.request is not None
    try:
        await handler(ws.request, ws)
    except WebSocketError:
        pass
    except Exception:
        _log_failure("WebSocket handler failed")
        if not ws._answered:
            await ws.reject(500)
        elif ws._close_code is None:
            await ws.close(1011)
        return
    if not ws._answered:
        await ws.reject(403)
    else:
        await ws.close(1000)


async def serve_connection(
    reader: "Reader",
    writer: "Writer",
    handler: "Handler",
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
) -> None:
    """Serve one accepted connection: read the upgrade request, then run the handler."""
    ws = WebSocket(reader, writer, False, close_timeout, max_message_length)
    try:
        events = await ws._read_handshake(handshake_timeout)
    except RemoteProtocolError as exc:
        await ws._send_bytes(ws._conn.send(exc.event_hint))  # 400, 405, 426 or 431
        await ws._shutdown()
        return
    except (asyncio.TimeoutError, OSError):
        await ws._shutdown()
        return
    for event in events:
        if isinstance(event, RequestEvent):
            ws.request = request_from_event(event)
    if ws.request is None:  # EOF before a request
        await ws._shutdown()
        return
    await _run_handler(ws, handler)


async def serve(
    handler: "Handler",
    host: str = "127.0.0.1",
    port: int = 8765,
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
) -> "Any":
    """Listen and run `handler(request, ws)` per connection; returns asyncio's server.

    Same handler semantics as transports.asyncio.serve: accept explicitly or on the
    first receive()/send(); returning before accepting answers 403, raising 500.
    """

    def client(reader: "Reader", writer: "Writer") -> "Awaitable[None]":
        return serve_connection(
            reader, writer, handler, handshake_timeout, close_timeout, max_message_length
        )

    return await asyncio.start_server(client, host, port)


async def connect(
    url: str,
    subprotocols: "Optional[List[str]]" = None,
    headers: "Optional[HeaderPairs]" = None,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
    streams: "Optional[Tuple[Reader, Writer]]" = None,
) -> WebSocket:
    """Open a WebSocket connection to a ws:// URL (`streams` replaces the TCP connection).

    Raises WebSocketResponseError when the server answers with an HTTP response.
    """
    secure, host, port, target = parse_url(url)
    if streams is None:
        if secure:
            raise ValueError("wss:// needs streams set up with TLS by the caller")
        opened: "Tuple[Reader, Writer]" = await asyncio.open_connection(host, port)
        streams = opened
    reader, writer = streams
    ws = WebSocket(reader, writer, True, close_timeout, max_message_length)
    event, ws.request = client_request(host, port, secure, target, subprotocols, headers)
    await ws._send_bytes(ws._conn.send(event))
    reply = HandshakeReply()
    try:
        while True:
            events = await ws._read_handshake(open_timeout)
            if not events:
                raise WebSocketError(1006, "connection closed in the handshake")
            accepted = reply.take(events)
            if accepted is not None:
                ws.subprotocol = accepted.subprotocol
                ws._opened()
                return ws
    except RemoteProtocolError as exc:
        await ws._shutdown()
        raise WebSocketError(1006, "bad handshake: %s" % exc) from None
    except BaseException:
        await ws._shutdown()
        raise


async def websocket_upgrade(request: "Any", subprotocol: "Optional[str]" = None) -> WebSocket:
    """Upgrade a request another framework parsed (Microdot's shape); return the WebSocket.

    `request` needs `method`, `path` (and `query_string` or `query`), `headers` (a mapping)
    and `sock = (reader, writer)`. Raises WebSocketError after answering a bad request
    with its HTTP status.
    """
    reader, writer = request.sock[0], request.sock[1]
    ws = WebSocket(reader, writer, False)
    query = getattr(request, "query_string", None) or getattr(request, "query", "") or ""
    target = request.path + ("?" + query if query else "")
    pairs = list(request.headers.items())
    try:
        ws._conn.initiate_upgrade_connection(pairs, target)
    except RemoteProtocolError as exc:
        await ws._send_bytes(ws._conn.send(exc.event_hint))
        raise WebSocketError(1006, "not a WebSocket upgrade: %s" % exc) from None
    for event in ws._conn.events():
        if isinstance(event, RequestEvent):
            ws.request = request_from_event(event)
    await ws.accept(subprotocol)
    return ws


def with_websocket(handler: "Callable[..., Awaitable[Any]]") -> "Callable[..., Awaitable[Any]]":
    """Decorate a route `handler(request, ws, ...)`: upgrade, run it, then close."""

    async def route(request: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        ws = await websocket_upgrade(request)
        try:
            result = await handler(request, ws, *args, **kwargs)
        except Exception:
            await ws.close(1011)  # no details on the wire; the framework sees the exception
            raise
        await ws.close()
        return result

    return route
