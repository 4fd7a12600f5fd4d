"""An in-memory test client for asyncio handlers: no sockets, real client framing.

TestClient(handler).websocket(path) runs `handler` exactly as serve() would (the same
server-side WebSocket, handler task and lifecycle) and talks to it through a client-role
WSConnection, so every frame the handler sees is masked as a browser's would be. The two
sides are joined by a pair of in-memory asyncio transports that deliver bytes in a later
loop iteration, as a socket does. CPython only; imports transports.asyncio.
"""

import asyncio
import collections
from collections.abc import Mapping
from typing import Any, AsyncContextManager, Deque, Dict, List, Optional, Sequence, Tuple, Union

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto_lite.events import Request as RequestEvent

from ._common import (
    HandshakeReply,
    Headers,
    Request,
    WebSocketError,
    WebSocketResponseError,
    describe,
)
from .asyncio import Handler, WebSocket, _server_protocol

__all__ = ["TestClient", "TestWebSocket", "WebSocketError", "WebSocketResponseError"]

HeadersArg = Union[Mapping[str, str], Sequence[Tuple[Union[bytes, str], Union[bytes, str]]], None]

# serve()'s keyword arguments that make sense without a socket.
_SERVE_OPTIONS = (
    "handshake_timeout",
    "close_timeout",
    "ping_interval",
    "ping_timeout",
    "max_message_length",
    "compression",
    "websocket_class",
)
_HOST = "testserver"
_OPEN = ConnectionState.OPEN


class _MemoryTransport(asyncio.Transport):
    # One end of an in-memory connection. What write() takes waits in the peer's inbox
    # until the peer's turn in the loop (call_soon), so nothing is delivered re-entrantly.
    # The inbox also counts as our write buffer, which drives pause_writing().

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        wire: bytearray,
        extra: Dict[str, Any],
    ) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol = protocol
        self._wire = wire  # every byte written here, for tests to inspect
        self._peer: Optional[_MemoryTransport] = None
        self._inbox = bytearray()  # written by the peer, not yet given to our protocol
        self._eof = False  # the peer closed: EOF follows the inbox
        self._flush_handle: Optional[asyncio.Handle] = None
        self._reading = True
        self._closing = False
        self._lost = False
        self._lost_handle: Optional[asyncio.Handle] = None
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._writing_paused = False

    # -- asyncio.Transport ---------------------------------------------------------------

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        if self._closing or not data:
            return  # as a socket transport after close(): the bytes go nowhere
        self._wire += data
        peer = self._peer
        if peer is None or peer._closing:
            return  # the peer stopped reading; a socket would get a reset
        peer._inbox += data
        peer._schedule()
        if not self._writing_paused and len(peer._inbox) > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        peer = self._peer
        if peer is not None and not peer._closing:
            peer._eof = True
            peer._schedule()
        self._schedule_lost(None)

    def abort(self) -> None:
        self._closing = True
        peer = self._peer
        if peer is not None and not peer._lost:
            # A reset: the peer loses what it has not read yet, and gets no EOF.
            peer._closing = True
            peer._inbox.clear()
            peer._schedule_lost(ConnectionResetError("connection reset by peer"))
        self._schedule_lost(None)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._schedule()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def set_write_buffer_limits(
        self, high: Optional[int] = None, low: Optional[int] = None
    ) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError("high (%r) must be >= low (%r) must be >= 0" % (high, low))
        self._high = high
        self._low = low

    def get_write_buffer_limits(self) -> Tuple[int, int]:
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        peer = self._peer
        return 0 if peer is None or peer._closing else len(peer._inbox)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def can_write_eof(self) -> bool:
        return False

    # -- delivery ------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._flush_handle is None and not self._lost:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._closing or not self._reading:
            return
        if self._inbox:
            data = bytes(self._inbox)
            self._inbox.clear()
            peer = self._peer
            if peer is not None and peer._writing_paused:
                peer._writing_paused = False  # its whole buffer was just taken
                peer._protocol.resume_writing()
            self._protocol.data_received(data)
        if self._eof and not self._inbox and self._reading and not self._closing:
            self._eof = False
            if not self._protocol.eof_received():
                self.close()

    def _schedule_lost(self, exc: Optional[Exception]) -> None:
        if self._lost_handle is None and not self._lost:
            self._lost_handle = self._loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: Optional[Exception]) -> None:
        self._lost = True
        self._inbox.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._protocol.connection_lost(exc)


class _ClientProtocol(asyncio.Protocol):
    # asyncio's callbacks, forwarded to the TestWebSocket.
    def __init__(self, ws: "TestWebSocket") -> None:
        self.ws = ws

    def data_received(self, data: bytes) -> None:
        self.ws._data_received(data)

    def eof_received(self) -> bool:
        self.ws._data_received(None)
        return False  # let the transport close itself

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.ws._connection_lost()

    def pause_writing(self) -> None:
        self.ws._paused_writing = True

    def resume_writing(self) -> None:
        self.ws._resume_writing()


class TestWebSocket:
    """The client end of a TestClient connection: a masked, client-role WebSocket.

    receive() gives whole messages (str for text, bytes for binary) and skips pings
    and pongs; receive_event() gives every event, pings and pongs included. Pings from
    the handler are answered automatically. Once the connection is over both raise
    WebSocketError with the code of the server's close frame (1006 if there was none).
    TestClient.websocket() makes them.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        # No size limits: a test should see whatever the handler sends.
        self._conn = WSConnection(
            ConnectionType.CLIENT,
            max_message_size=None,
            auto_reply=True,
            whole_messages=True,
            strict_close=True,
        )
        self._loop = loop
        self._timeout = timeout
        self._transport: Optional[_MemoryTransport] = None
        self._events: Deque[Event] = collections.deque()
        self._waiter: Optional[asyncio.Future[None]] = None
        self._drain_waiters: List[asyncio.Future[None]] = []
        self._paused_writing = False
        self._handshake: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._reject: Optional[HandshakeReply] = None  # a rejection arriving
        self._ended: Optional[Tuple[int, str]] = None  # how the server ended it
        self._sent_close: Optional[Tuple[int, str]] = None
        self._server: Optional[WebSocket] = None
        #: The subprotocol the handler accepted, or None.
        self.subprotocol: Optional[str] = None
        #: The 101 response's headers, other than the handshake's own.
        self.response_headers = Headers()
        #: Every byte the client wrote (the HTTP request, then masked frames).
        self.raw_sent = bytearray()
        #: Every byte the server wrote (the HTTP response, then unmasked frames).
        self.raw_received = bytearray()
        #: The exception that escaped the handler, or None (returned, cancelled, running).
        self.handler_exception: Optional[Exception] = None

    @property
    def closed(self) -> bool:
        """True once either side has started closing or the connection is gone."""
        return self._ended is not None or self._sent_close is not None

    @property
    def close_code(self) -> Optional[int]:
        """The code of the server's close frame, 1006 if it ended without one, None while open."""
        return None if self._ended is None else self._ended[0]

    @property
    def close_reason(self) -> str:
        """The reason in the server's close frame."""
        return "" if self._ended is None else self._ended[1]

    @property
    def server(self) -> WebSocket:
        """The handler's WebSocket, for tests that look at the server side."""
        assert self._server is not None
        return self._server

    async def send(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Send a message: str as text, bytes-like as binary, in masked frames."""
        if isinstance(data, str):
            event: Event = TextMessage(data)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            event = BytesMessage(bytes(data))
        else:
            raise TypeError("send() takes str or bytes-like, not %s" % type(data).__name__)
        await self._send(event)

    async def ping(self, data: Union[bytes, str] = b"") -> None:
        """Send a ping; the handler's side answers it and receive_event() gives the Pong."""
        await self._send(Ping(data.encode("utf-8") if isinstance(data, str) else bytes(data)))

    async def receive(self) -> Union[str, bytes]:
        """The next message from the handler: str for text, bytes for binary.

        Raises WebSocketError (code and reason of the server's close frame, or 1006)
        once the connection is over.
        """
        while True:
            event = await self.receive_event()
            if isinstance(event, TextMessage):
                return event.data
            if isinstance(event, BytesMessage):
                return bytes(event.data)
            if isinstance(event, CloseConnection):
                raise WebSocketError(event.code, event.reason or "")

    async def receive_event(self) -> Event:
        """The next wsproto_lite event: TextMessage, BytesMessage, Ping, Pong, CloseConnection.

        A CloseConnection is given once (a ProtocolViolation subclass if the server's
        frames broke RFC 6455); after it, raises WebSocketError.
        """
        while not self._events:
            if self._ended is not None:
                raise WebSocketError(*self._ended)
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting in receive()")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake and wait for the server to close the connection.

        Drops the connection if that takes longer than the TestClient's timeout.
        """
        if self._conn.state is _OPEN and self._ended is None:
            self._sent_close = (code, reason)
            self._write(self._conn.send(CloseConnection(code, reason)))
        await self._wait_lost()

    def abort(self) -> None:
        """Drop the connection without a close frame, as a client that vanished.

        The handler's task is cancelled, as under serve().
        """
        if self._transport is not None:
            self._transport.abort()

    # -- internals -----------------------------------------------------------------------

    async def _send(self, event: Event) -> None:
        if self._ended is not None or self._conn.state is not _OPEN:
            raise WebSocketError(*(self._ended or self._sent_close or (1006, "")))
        self._write(self._conn.send(event))
        while self._paused_writing and not self._lost.done():
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _write(self, data: bytes) -> None:
        if data and self._transport is not None:
            self._transport.write(data)

    async def _wait_lost(self) -> None:
        if self._lost.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), self._timeout)
        except asyncio.TimeoutError:
            self.abort()
            await self._lost

    def _data_received(self, data: Optional[bytes]) -> None:
        conn = self._conn
        try:
            conn.receive_data(data)
        except RemoteProtocolError as exc:  # a response that is no valid handshake
            self._handshake_failed(WebSocketError(1006, "bad handshake: %s" % describe(exc)))
            return
        for event in conn.events():
            kind = type(event)
            if kind is AcceptConnection:
                assert isinstance(event, AcceptConnection)
                self.subprotocol = event.subprotocol
                self.response_headers = Headers(event.extra_headers)
                if not self._handshake.done():
                    self._handshake.set_result(None)
            elif kind is RejectConnection or kind is RejectData:
                if self._reject is None:
                    self._reject = HandshakeReply()
                try:
                    self._reject.take([event])
                except WebSocketResponseError as exc:
                    self._handshake_failed(exc)
            else:
                if isinstance(event, CloseConnection) and self._ended is None:
                    self._ended = (event.code, event.reason or "")
                    if kind is not CloseConnection and self._transport is not None:
                        self._write(conn.data_to_send())  # our 1002/1007/1009 first
                        self._transport.close()  # RFC 6455 §7.1.7: a failed connection
                self._events.append(event)
        self._write(conn.data_to_send())  # pongs and the echo of the server's close
        self._wake()

    def _handshake_failed(self, exc: WebSocketError) -> None:
        if self._ended is None:
            self._ended = (exc.code, exc.reason)
        if not self._handshake.done():
            self._handshake.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    def _connection_lost(self) -> None:
        if self._ended is None:
            self._ended = (1006, "connection lost")
        if not self._handshake.done():
            self._handshake.set_exception(WebSocketError(1006, "connection lost in handshake"))
        if not self._lost.done():
            self._lost.set_result(None)
        self._resume_writing()
        self._wake()

    def _resume_writing(self) -> None:
        self._paused_writing = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Connect:
    # client.websocket(...): `async with` opens, yields a TestWebSocket, then closes.
    def __init__(
        self,
        client: "TestClient",
        target: str,
        headers: List[Tuple[Union[bytes, str], Union[bytes, str]]],
        host: str,
        subprotocols: List[str],
    ) -> None:
        self._client = client
        self._target = target
        self._headers = headers
        self._host = host
        self._subprotocols = subprotocols
        self._ws: Optional[TestWebSocket] = None

    async def __aenter__(self) -> TestWebSocket:
        client = self._client
        loop = asyncio.get_running_loop()
        ws = self._ws = TestWebSocket(loop, client.timeout)
        client.handler_exception = None

        async def recording(request: Request, server: WebSocket) -> Any:
            try:
                return await client.handler(request, server)
            except Exception as exc:  # seen here, then handled exactly as under serve()
                ws.handler_exception = client.handler_exception = exc
                raise

        server_protocol = _server_protocol(recording, **client.serve_options)
        ws._server = server_protocol.ws
        near = _MemoryTransport(
            loop,
            _ClientProtocol(ws),
            ws.raw_sent,
            {"peername": ("127.0.0.1", 80), "sockname": ("127.0.0.1", 50000)},
        )
        far = _MemoryTransport(
            loop,
            server_protocol,
            ws.raw_received,
            {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 80)},
        )
        near._peer, far._peer = far, near
        ws._transport = near
        server_protocol.connection_made(far)
        event = RequestEvent(
            host=self._host,
            target=self._target,
            subprotocols=self._subprotocols,
            extra_headers=self._headers,
        )
        ws._write(ws._conn.send(event))
        try:
            try:
                await asyncio.wait_for(ws._handshake, client.timeout)
            except asyncio.TimeoutError:
                raise WebSocketError(1006, "opening handshake timed out") from None
        except BaseException as exc:
            if not isinstance(exc, WebSocketResponseError):
                ws.abort()  # the handler never answered: it is cancelled, as under serve()
            await self._finish(ws)
            raise
        return ws

    async def __aexit__(self, exc_type: Optional[type], *exc_info: object) -> None:
        ws = self._ws
        assert ws is not None
        await ws.close()
        await self._finish(ws, raise_timeout=exc_type is None)

    async def _finish(self, ws: TestWebSocket, raise_timeout: bool = False) -> None:
        # Wait for both ends of the connection to be gone, then for the handler; bounded.
        timeout = self._client.timeout
        await ws._wait_lost()
        server = ws.server
        if not server._gone:  # we closed first; the server sees EOF soon
            lost = server._lost_future()
            await asyncio.wait([lost], timeout=timeout)
            if not lost.done() and server._transport is not None:
                server._transport.abort()
            await lost
        task = server._handler_task
        late = False
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=timeout)
            if not task.done():
                late = True
                task.cancel()
                await asyncio.wait([task])
        if late and raise_timeout:
            raise asyncio.TimeoutError(
                "the handler did not finish within %s s of the connection closing; "
                "it was cancelled" % timeout
            )


class TestClient:
    """Run a handler as serve() would, and connect to it in memory: no sockets.

    `serve_options` are serve()'s keyword arguments that need no socket
    (handshake_timeout, close_timeout, ping_interval, ping_timeout,
    max_message_length, compression, websocket_class). `timeout` bounds the opening handshake, the
    closing handshake, and the wait for the handler when a `websocket()` block exits.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, handler: Handler, *, timeout: float = 5.0, **serve_options: Any) -> None:
        unknown = sorted(set(serve_options) - set(_SERVE_OPTIONS))
        if unknown:
            raise TypeError("TestClient() got options it cannot use: %s" % ", ".join(unknown))
        self.handler = handler
        self.timeout = timeout
        self.serve_options = serve_options
        #: The exception that escaped the handler of the latest connection, or None.
        self.handler_exception: Optional[Exception] = None

    def websocket(
        self,
        path: str = "/",
        headers: HeadersArg = None,
        subprotocols: Optional[Sequence[str]] = None,
    ) -> AsyncContextManager[TestWebSocket]:
        """Connect to the handler: `async with client.websocket(path) as ws: ...`.

        Entering runs the opening handshake and raises WebSocketResponseError (status,
        headers, body) when the handler answers with an HTTP response instead of
        accepting. Exiting closes with 1000 if the connection is still open and waits
        for the handler to finish; an exception from the handler is not re-raised but
        kept in `handler_exception`. A `Host` header, if given, replaces "testserver".
        """
        if not path.startswith("/"):
            raise ValueError("path must start with '/': %r" % (path,))
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
        host = _HOST
        extra: List[Tuple[Union[bytes, str], Union[bytes, str]]] = []
        for name, value in pairs:
            key = name.decode("latin-1") if isinstance(name, bytes) else name
            if key.lower() == "host":
                host = value.decode("latin-1") if isinstance(value, bytes) else value
            else:
                extra.append((name, value))
        return _Connect(self, path, extra, host, list(subprotocols or ()))
