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
    check_compression,
    client_request,
    closing,
    compression_extensions,
    describe,
    framework_target,
    message_event,
    message_limit,
    parse_url,
    rejection,
    request_from_event,
    request_from_framework,
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

# What the server has answered to the upgrade (WebSocket._phase).
_WAITING = 0  # nothing yet: the handler may accept() or reject()
_ACCEPTED = 1
_REJECTED = 2

# What _take() found besides a message.
_MORE = None  # the core needs more bytes
_ENDED = 0  # the connection is over
_SHUT = 1  # the connection is over and the socket is ours to close now

_BUSY = object()  # WebSocket._write_wait while a task is inside write() and drain()


async def _microdot_done(request: "Any", response: "Any") -> "Any":
    # Registered with Microdot's request.after_request by websocket_upgrade: the socket
    # belongs to the WebSocket now, so Microdot must not write a response of its own.
    try:
        from microdot import Response  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return response
    return Response.already_handled


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

    #: Seconds close() waits for the peer's close frame.
    close_timeout = 10.0

    #: The subprotocol agreed in the handshake, or None.
    subprotocol: "Optional[str]" = None

    # Starting values as class attributes: an instance stores only what it changes, as
    # MicroPython charges 8 bytes per instance attribute (docs/micropython.rst).
    _writer: "Optional[Writer]" = None  # None: the reader is the writer (MicroPython)
    _client = False
    _phase = _ACCEPTED  # serve_connection() sets _WAITING until the handler answers
    _close_code: "Optional[int]" = None
    _close_reason = ""
    _eof = False
    _request: "Any" = None  # a Request, or a framework's request until .request is read
    _write_wait: "Any" = None  # None, _BUSY, or an Event other writers wait on
    # What accept() agrees to: "deflate", None or a PerMessageDeflate to copy. Where zlib
    # cannot do permessage-deflate (MicroPython), every offer is declined.
    _compression: "Any" = "deflate"

    def __init__(
        self,
        reader: "Reader",
        writer: "Writer",
        client: bool,
        close_timeout: float = 10.0,
        max_message_length: "Optional[int]" = None,
        compression: "Any" = "deflate",
    ) -> None:
        limit = message_limit(
            self.max_message_length if max_message_length is None else max_message_length
        )
        if compression != "deflate":
            check_compression(compression)
            self._compression = compression
        # The WSConnection during the handshake, its bare Connection once open (_opened):
        # the handshake's objects then go (about 0.8 KiB on MicroPython, docs/micropython).
        self._conn: "Any" = WSConnection(
            ConnectionType.CLIENT if client else ConnectionType.SERVER,
            max_message_size=limit,
            auto_reply=True,
            whole_messages=True,
            strict_close=True,
        )
        self._reader = reader
        if writer is not reader:  # type: ignore[comparison-overlap]
            self._writer = writer
        if client:
            self._client = True
        if close_timeout != WebSocket.close_timeout:
            self.close_timeout = close_timeout

    @property
    def request(self) -> "Optional[Request]":
        """The upgrade request, the client's on a server and ours on a client."""
        request = self._request
        if request is not None and type(request) is not Request:
            # A framework's request (websocket_upgrade): converted when first read.
            request = self._request = request_from_framework(request)
        result: "Optional[Request]" = request
        return result

    @request.setter
    def request(self, request: "Optional[Request]") -> None:
        self._request = request

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
        phase = self._phase
        if phase == _ACCEPTED:
            return
        if phase == _REJECTED:
            raise WebSocketError(self._close_code or 1006, "the upgrade was rejected")
        self._phase = _ACCEPTED
        await self._accept(subprotocol, headers)

    async def _accept(
        self, subprotocol: "Optional[str]", headers: "Optional[HeaderPairs]" = None
    ) -> None:
        if subprotocol is not None:
            self.subprotocol = subprotocol
        accept = AcceptConnection(
            subprotocol=subprotocol,
            extensions=compression_extensions(self._compression, False),
            extra_headers=headers,
        )
        await self._send_bytes(self._conn.send(accept))
        self._opened()

    async def reject(
        self,
        status: int = 403,
        body: "Union[bytes, str]" = b"",
        headers: "Optional[HeaderPairs]" = None,
    ) -> None:
        """Server: answer the upgrade with an HTTP response instead, then close."""
        if self._phase != _WAITING:
            raise LocalProtocolError("the upgrade was answered already")
        self._phase = _REJECTED
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
        if self._phase != _ACCEPTED:
            await self.accept()
        # Written out here rather than in helpers: a handler parked in receive() keeps
        # this frame alive, and on MicroPython every further frame costs heap.
        conn = self._conn
        while True:
            got = self._take()
            out = conn.data_to_send()  # pongs, the close echo, a failure's close frame
            if out:
                await self._send_bytes(out)
            if got is _MORE:
                try:
                    data = await self._reader.read(_READ_SIZE)
                except OSError:
                    data = b""
                if data:
                    conn.receive_data(data)
                else:
                    self._eof = True
                    conn.receive_data(None)
                continue
            if got is _SHUT:
                await self._shutdown()  # the server closes TCP first; a failure at once
            elif got is not _ENDED:
                return got  # type: ignore[no-any-return]
            raise WebSocketError(self._close_code or 1006, self._close_reason)

    def _take(self) -> "Any":
        # The next message the core holds; else _MORE, _ENDED or _SHUT (see above).
        conn = self._conn
        while True:
            event = conn.next_event()
            if event is None:
                if self._close_code is not None:
                    return _ENDED
                if self._eof:
                    self._close_code = 1006
                    self._close_reason = "connection lost"
                    return _ENDED
                return _MORE
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                return event.data
            if isinstance(event, CloseConnection):
                if self._close_code is None:
                    self._close_code = int(event.code)
                    self._close_reason = event.reason or ""
                if not self._client or kind is not CloseConnection:
                    return _SHUT
                return _ENDED

    async def send(
        self, data: "Union[str, bytes, bytearray]", opcode: "Optional[int]" = None
    ) -> None:
        """Send a message: str as text, bytes-like as binary, unless `opcode` says otherwise."""
        if self._phase != _ACCEPTED:
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
        if self._phase == _WAITING:
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
        # After our close frame: read (and drop messages) until the peer's close or EOF.
        try:
            while True:
                await self.receive()
        except WebSocketError:
            pass

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
        # One writer at a time (write + drain are not atomic on a MicroPython stream).
        # No lock kept per connection: an Event is made only when writers meet.
        while self._write_wait is not None:
            wait = self._write_wait
            if wait is _BUSY:
                wait = self._write_wait = asyncio.Event()
            await wait.wait()
        self._write_wait = _BUSY
        writer: "Any" = self._writer or self._reader
        try:
            writer.write(data)
            await writer.drain()
        except OSError:
            if self._close_code is None:
                self._close_code = 1006
                self._close_reason = "connection lost"
        finally:
            wait = self._write_wait
            self._write_wait = None
            if wait is not _BUSY:
                wait.set()

    async def _shutdown(self) -> None:
        writer: "Any" = self._writer or self._reader
        try:
            writer.close()
            await writer.wait_closed()
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


async def _read_request(ws: WebSocket, timeout: float) -> bool:
    # Server: read the upgrade request into ws._request; False when there is none (a
    # bad request is answered 400, 405, 426 or 431). Its own frame, so the handshake's
    # events are gone before the handler runs.
    try:
        events = await ws._read_handshake(timeout)
    except RemoteProtocolError as exc:
        await ws._send_bytes(ws._conn.send(closing(exc.event_hint)))
        return False
    except (asyncio.TimeoutError, OSError):
        return False
    for event in events:
        if isinstance(event, RequestEvent):
            ws._request = request_from_event(event)
    return ws._request is not None  # None: EOF before a request


async def serve_connection(
    reader: "Reader",
    writer: "Writer",
    handler: "Handler",
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
    compression: "Any" = "deflate",
) -> None:
    """Serve one accepted connection: read the upgrade request, then run the handler."""
    ws = WebSocket(reader, writer, False, close_timeout, max_message_length, compression)
    ws._phase = _WAITING  # the handler answers: accept() or reject()
    if not await _read_request(ws, handshake_timeout):
        await ws._shutdown()
        return
    # The handler lifecycle of DESIGN.md section 3, as in transports.asyncio.
    try:
        await handler(ws._request, ws)
    except WebSocketError:
        pass
    except Exception:
        _log_failure("WebSocket handler failed")
        if ws._phase == _WAITING:
            await ws.reject(500)
        elif ws._close_code is None:
            await ws.close(1011)
        return
    if ws._phase == _WAITING:
        await ws.reject(403)
    else:
        await ws.close(1000)


async def serve(
    handler: "Handler",
    host: str = "127.0.0.1",
    port: int = 8765,
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
    compression: "Any" = "deflate",
) -> "Any":
    """Listen and run `handler(request, ws)` per connection; returns asyncio's server.

    Same handler semantics as transports.asyncio.serve: accept explicitly or on the
    first receive()/send(); returning before accepting answers 403, raising 500.
    `compression` as there too; on MicroPython, which has no usable zlib, it declines.
    """
    check_compression(compression)

    def client(reader: "Reader", writer: "Writer") -> "Awaitable[None]":
        return serve_connection(
            reader,
            writer,
            handler,
            handshake_timeout,
            close_timeout,
            max_message_length,
            compression,
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
    compression: "Any" = "deflate",
) -> WebSocket:
    """Open a WebSocket connection to a ws:// URL (`streams` replaces the TCP connection).

    Raises WebSocketResponseError when the server answers with an HTTP response.
    `compression` offers permessage-deflate where zlib can do it (not on MicroPython).
    """
    check_compression(compression)
    secure, host, port, target = parse_url(url)
    if streams is None:
        if secure:
            raise ValueError("wss:// needs streams set up with TLS by the caller")
        opened: "Tuple[Reader, Writer]" = await asyncio.open_connection(host, port)
        streams = opened
    reader, writer = streams
    ws = WebSocket(reader, writer, True, close_timeout, max_message_length)
    event, ws.request = client_request(
        host, port, secure, target, subprotocols, headers, compression
    )
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
        raise WebSocketError(1006, "bad handshake: %s" % describe(exc)) from None
    except BaseException:
        await ws._shutdown()
        raise


async def websocket_upgrade(
    request: "Any",
    subprotocol: "Optional[str]" = None,
    max_message_length: "Optional[int]" = None,
    compression: "Any" = "deflate",
) -> WebSocket:
    """Upgrade a request another framework parsed (Microdot's shape); return the WebSocket.

    `max_message_length` overrides WebSocket.max_message_length for this connection;
    `compression` is serve()'s (declined anyway where zlib cannot do it).

    `request` needs `method`, `path` (and `query_string` or `query`), `headers` (a mapping)
    and `sock = (reader, writer)`. Raises WebSocketError after answering a bad request
    with its HTTP status. Under Microdot it also tells Microdot (after_request) that the
    response is handled, so nothing is written after the WebSocket closes.
    """
    register = getattr(request, "after_request", None)
    if register is not None:  # Microdot: it writes no response of its own afterwards
        register(_microdot_done)
    reader, writer = request.sock[0], request.sock[1]
    ws = WebSocket(
        reader, writer, False, max_message_length=max_message_length, compression=compression
    )
    try:
        ws._conn.initiate_upgrade_connection(
            list(request.headers.items()), framework_target(request)
        )
    except RemoteProtocolError as exc:
        await ws._send_bytes(ws._conn.send(closing(exc.event_hint)))
        raise WebSocketError(1006, "not a WebSocket upgrade: %s" % describe(exc)) from None
    ws._conn.next_event()  # the core's Request event: ws.request is made from `request`
    ws._request = request
    await ws._accept(subprotocol)
    return ws


def with_websocket(handler: "Callable[..., Awaitable[Any]]") -> "Callable[..., Awaitable[Any]]":
    """Decorate a route `handler(request, ws, ...)`: upgrade, run it, then close.

    The route returns the handler's result, or None when the upgrade was answered with
    an error status or the connection ended under the handler (WebSocketError), as
    serve() handlers end. Another exception closes with 1011 and reaches the framework.
    """

    async def route(request: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        try:
            ws = await websocket_upgrade(request)
        except WebSocketError:
            return None  # answered with 400 (or the like) already
        try:
            result = await handler(request, ws, *args, **kwargs)
        except WebSocketError:
            result = None  # the peer closed or vanished: the session is over
        except Exception:
            await ws.close(1011)  # no details on the wire; the framework sees the exception
            raise
        await ws.close()
        return result

    return route
