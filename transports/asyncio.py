"""asyncio transport: the WebSocket facade, serve() and connect() over asyncio, CPython only.

Built on asyncio.Protocol, not streams: bytes go straight from data_received() into the
core, so control frames (pings, closes) are handled whether or not the application is
reading, and an idle connection costs no task of its own. The core does all protocol
work; this module only moves bytes, wakes waiters and keeps timers.
"""

import asyncio
import logging
import ssl as _ssl
from functools import partial
from typing import Any, Awaitable, Callable, Coroutine, Generator, List, Optional, Tuple, Union

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto_lite.events import (
    Request as RequestEvent,
)
from wsproto_lite.keepalive import DEAD, DEAD_CODE, DEAD_REASON, EXPIRED, Keepalive
from wsproto_lite.keepalive import PING as _PING

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
    message_event,
    message_limit,
    parse_url,
    rejection,
    request_from_event,
)

__all__ = [
    "Request",
    "Server",
    "WebSocket",
    "WebSocketError",
    "WebSocketResponseError",
    "connect",
    "serve",
    "websocket_upgrade",
    "with_websocket",
]

logger = logging.getLogger("wsproto_lite.transports.asyncio")

Handler = Callable[[Request, "WebSocket"], Awaitable[Any]]
Data = Union[str, bytes, bytearray, memoryview]

# Receive side: events are pulled from the core only while no message waits for
# receive(), so the application answers a message before anything after it is acted on
# (a close or a violation that followed it in the same read). What arrives meanwhile
# stays as bytes in the core; reading pauses above the high mark, resumes below the low.
_READ_HIGH = 256 * 1024
_READ_LOW = 64 * 1024
# Send-side backpressure: send() waits while the transport buffers more than this.
_WRITE_HIGH = 64 * 1024
_OPEN = ConnectionState.OPEN


class _Protocol(asyncio.Protocol):
    # asyncio's callbacks, forwarded to the WebSocket that owns the connection.
    __slots__ = ("ws",)

    def __init__(self, ws: "WebSocket") -> None:
        self.ws = ws

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.ws._connection_made(transport)  # type: ignore[arg-type]  # always a Transport

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


class _UpgradedProtocol(_Protocol):
    # After websocket_upgrade(): the framework's streams protocol still hears about the
    # end of the connection, so its writer.wait_closed() returns.
    __slots__ = ("previous",)

    def __init__(self, ws: "WebSocket", previous: asyncio.BaseProtocol) -> None:
        super().__init__(ws)
        self.previous = previous

    def connection_lost(self, exc: Optional[Exception]) -> None:
        super().connection_lost(exc)
        self.previous.connection_lost(exc)


class WebSocket:
    """One WebSocket connection, server or client side.

    receive() gives whole messages (str for text, bytes for binary); send() picks text
    or binary from the data's type; close() runs the closing handshake. Pings are
    answered automatically. When the connection ends, receive() and send() raise
    WebSocketError with the close code and reason; `async for` ends quietly on 1000/1001.
    """

    # Slots: an instance dict cost 1.6 KiB per idle connection (benchmarks/memory.py).
    __slots__ = (
        "_accepted",
        "_answered",
        "_client",
        "_close_code",
        "_close_reason",
        "_closing",
        "_compression",
        "_conn",
        "_drain_waiters",
        "_flush_handle",
        "_handler",
        "_handler_task",
        "_handshake",
        "_keepalive",
        "_loop",
        "_gone",
        "_live",
        "_lost",
        "_message",
        "_out",
        "_out_size",
        "_paused_reading",
        "_paused_writing",
        "_peer_closed",
        "_receiver",
        "_reject",
        "_resume",
        "_timer",
        "_transport",
        "_waiter",
        "close_timeout",
        "ping_interval",
        "ping_timeout",
        "request",
        "subprotocol",
        "__weakref__",
    )

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
        client: bool,
        *,
        close_timeout: float = 10.0,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = 20.0,
        max_message_length: Optional[int] = None,
        compression: Any = "deflate",
    ) -> None:
        limit = message_limit(
            self.max_message_length if max_message_length is None else max_message_length
        )
        check_compression(compression)
        # "deflate", None or a PerMessageDeflate to copy: what accept() agrees to (server).
        self._compression = compression
        # The WSConnection during the handshake, its bare Connection once open (_opened).
        self._conn: Any = WSConnection(
            ConnectionType.CLIENT if client else ConnectionType.SERVER,
            max_message_size=limit,
            auto_reply=True,
            whole_messages=True,
            strict_close=True,
        )
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._transport: Optional[asyncio.Transport] = None
        self._message: Optional[Union[str, bytes]] = None  # waiting for receive()
        self._out: Optional[List[bytes]] = None  # frames not yet handed to the transport
        self._out_size = 0
        self._flush_handle: Optional[asyncio.Handle] = None
        self._resume: Optional[asyncio.Handle] = None  # pull events again soon
        self._waiter: Optional[asyncio.Future[None]] = None
        self._drain_waiters: Optional[List[asyncio.Future[None]]] = None  # while paused
        self._paused_reading = False
        self._paused_writing = False
        self._close_code: Optional[int] = None
        self._close_reason = ""
        # The connection is lost (_gone); a future for it is made only for who awaits it.
        self._gone = False
        self._lost: Optional[asyncio.Future[None]] = None
        self._live: Optional[set[WebSocket]] = None  # a Server's set, left when all is done
        self._accepted = False
        self._peer_closed = False
        self._closing = False  # close() was called: its caller waits for the end itself
        self._receiver: Optional[asyncio.Task[Any]] = None  # the task waiting in receive()
        self._answered = False  # server: the upgrade got an answer (101 or a rejection)
        self._handshake: Optional[asyncio.Future[None]] = None  # client: the 101 arrived
        self._reject: Optional[HandshakeReply] = None  # client: a rejection arriving
        self._handler_task: Optional[asyncio.Task[None]] = None
        # One timer: the handshake timeout, then whatever the keepalive state says next
        # (a ping, a dead peer, the end of the closing handshake).
        self._timer: Optional[asyncio.TimerHandle] = None
        self._keepalive: Optional[Keepalive] = None  # made when the connection opens
        self._handler: Optional[Handler] = None  # server: set by _server_protocol()
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        #: The upgrade request, the client's on a server and ours on a client.
        self.request: Optional[Request] = None
        #: The subprotocol agreed in the handshake, or None.
        self.subprotocol: Optional[str] = None

    # -- public API --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed (no more messages can be sent)."""
        return self._close_code is not None or self._conn.state is not _OPEN

    @property
    def close_code(self) -> Optional[int]:
        """The close code once the connection has ended (1006: lost without a close)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection has ended."""
        return self._close_reason

    async def accept(
        self,
        subprotocol: Optional[str] = None,
        headers: Optional[List[Tuple[Union[bytes, str], Union[bytes, str]]]] = None,
    ) -> None:
        """Server: answer the upgrade with 101 (the first receive() or send() does it too)."""
        if self._client or self._accepted:
            return
        if self._answered:
            raise WebSocketError(self._close_code or 1006, "the upgrade was rejected")
        self._answered = True
        self._accepted = True
        self.subprotocol = subprotocol
        accept = AcceptConnection(
            subprotocol=subprotocol,
            extensions=compression_extensions(self._compression, False),
            extra_headers=headers,
        )
        self._write(self._conn.send(accept))
        self._opened()
        self._process()  # frames the client sent right after its request
        self._start_keepalive()

    async def reject(
        self,
        status: int = 403,
        body: Union[bytes, str] = b"",
        headers: Optional[List[Tuple[Union[bytes, str], Union[bytes, str]]]] = None,
    ) -> None:
        """Server: answer the upgrade with an HTTP response instead, then close."""
        if self._client:
            raise LocalProtocolError("only a server rejects an upgrade")
        if self._answered:
            raise LocalProtocolError("the upgrade was answered already")
        self._answered = True
        head, data = rejection(status, body, headers)
        out = self._conn.send(head) + self._conn.send(data)
        self._write(out)
        self._set_closed(1006, "rejected with HTTP %d" % status)
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def receive(self) -> "Coroutine[Any, Any, Union[str, bytes]]":
        """The next message: str for text, bytes for binary (await it).

        Raises WebSocketError once the connection is over (the peer closed, a
        violation, a lost connection, or our own close).
        """
        return self._receive(False)

    async def _receive(self, iterating: bool) -> Union[str, bytes]:
        # receive() and __anext__ hand out this coroutine itself, not one awaiting it: a
        # handler parked in `async for` holds one frame, not two (about 0.2 KiB each).
        if not self._accepted:
            await self.accept()
        while True:
            if self._message is None:
                self._process()  # what arrived since the last message was taken
            data = self._message
            if data is not None:
                self._message = None
                # Go on with the events after this message once the application has
                # had its turn to answer it (now, if it comes back to receive() first).
                if self._resume is None:
                    self._resume = self._loop.call_soon(self._resumed)
                return data
            if self._close_code is not None:
                if iterating and self._close_code in NORMAL_CODES:
                    raise StopAsyncIteration
                raise WebSocketError(self._close_code, self._close_reason)
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting in receive()")
            self._waiter = self._loop.create_future()
            self._receiver = asyncio.current_task()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._receiver = None

    async def send(self, data: Data, opcode: Optional[int] = None) -> None:
        """Send a message: str as text, bytes-like as binary, unless `opcode` says otherwise.

        Waits while the transport's buffer is full (a slow reader slows the sender).
        Raises WebSocketError once the connection is closing or closed.
        """
        if not self._accepted:
            await self.accept()
        if opcode == CLOSE:
            await self.close()
            return
        event = message_event(data, opcode)
        if self._close_code is not None or self._conn.state is not _OPEN:
            raise WebSocketError(self._close_code or 1006, self._close_reason)
        self._write(self._conn.send(event))
        if self._paused_writing:
            await self._drain()

    async def ping(self, data: Union[bytes, str] = b"") -> None:
        """Send a ping (pongs are swallowed; keepalive uses its own)."""
        await self.send(data, PING)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake; never waits longer than `close_timeout`.

        On a server whose upgrade is not answered yet, rejects it with 403 instead.
        """
        if not self._client and not self._answered:
            await self.reject(403)
            return
        self._closing = True
        if self._conn.state is _OPEN and self._close_code is None:
            self._write(self._conn.send(CloseConnection(code=code, reason=reason)))
            self._close_code = code  # what receive() and send() report from now on
            self._close_reason = reason
            self._wake()
        if not self._gone:
            self._closing_started()  # the timer drops the connection at close_timeout
            lost = self._lost_future()
            if self._transport is None:  # not connected yet: nothing to wait for
                return
            await lost

    def __aiter__(self) -> "WebSocket":
        return self

    def __anext__(self) -> "Coroutine[Any, Any, Union[str, bytes]]":
        # Ends quietly on a normal close (1000, 1001, 1005); any other end raises. A
        # subclass (websocket_class=) that overrides receive() is iterated through it.
        if type(self).receive is WebSocket.receive:
            return self._receive(True)
        return self._next_via_receive()

    async def _next_via_receive(self) -> Union[str, bytes]:
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

    # -- asyncio callbacks -------------------------------------------------------------

    def _connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH)

    def _data_received(self, data: Optional[bytes]) -> None:
        keepalive = self._keepalive
        if keepalive is not None:  # proof of life, even if a pong waits unparsed
            keepalive.heard(self._loop.time())
        try:
            self._conn.receive_data(data)
        except RemoteProtocolError as exc:
            self._handshake_failed(exc)
            return
        self._process()

    def _process(self) -> None:
        # Hand events to their places until a message waits for receive(), then write
        # what receiving produced and pause reading if too much is left unparsed.
        conn = self._conn
        if self._message is None:
            next_event = conn.next_event
            while True:
                event = next_event()
                if event is None:
                    break
                kind = type(event)
                if kind is TextMessage or kind is BytesMessage:
                    self._message = event.data
                    break
                if isinstance(event, CloseConnection):
                    self._on_close(event)
                elif kind is RequestEvent:
                    self._on_request(event)
                elif kind is AcceptConnection:
                    self.subprotocol = event.subprotocol
                    self._accepted = True
                    self._opened()
                    if self._handshake is not None and not self._handshake.done():
                        self._handshake.set_result(None)
                    self._start_keepalive()
                elif kind is RejectConnection or kind is RejectData:
                    if self._reject is None:
                        self._reject = HandshakeReply()
                    try:
                        self._reject.take([event])
                    except WebSocketResponseError as exc:
                        self._fail_handshake(exc)
        self._write(conn.data_to_send())
        transport = self._transport
        if transport is not None:
            buffered = conn.buffered
            if not self._paused_reading and buffered > _READ_HIGH:
                self._paused_reading = True
                transport.pause_reading()
            elif self._paused_reading and buffered < _READ_LOW:
                self._paused_reading = False
                transport.resume_reading()
        self._wake()

    def _on_close(self, event: CloseConnection) -> None:
        if type(event) is CloseConnection and event.code != 1006:
            self._peer_closed = True  # a real close frame: the closing handshake happens
        if self._close_code is None:
            self._set_closed(int(event.code), event.reason or "")
        transport = self._transport
        if transport is None:
            return
        self._write(self._conn.data_to_send())  # our close frame goes before the TCP close
        if type(event) is not CloseConnection:
            # We failed the connection (1002, 1007, 1009). The peer may still be sending
            # (the rest of a message too big): closing now would discard those unread
            # bytes with a reset, and our close frame with them. Send FIN instead and read
            # (dropping) until the peer closes, for at most close_timeout.
            if self._paused_reading:
                self._paused_reading = False
                transport.resume_reading()
            self._flush()
            if transport.can_write_eof():
                transport.write_eof()
            self._closing_started()
        elif not self._client:
            self._flush()
            transport.close()  # RFC 6455 §7.1.1: the server closes TCP first
        else:
            # The client waits for the server to close TCP, but not for ever.
            self._closing_started()

    def _lost_future(self) -> "asyncio.Future[None]":
        # Done once the connection is lost; made on demand (a future per idle connection
        # would cost ~0.4 KiB with its callback, benchmarks/memory.py).
        lost = self._lost
        if lost is None:
            lost = self._lost = self._loop.create_future()
            if self._gone:
                lost.set_result(None)
        return lost

    def _connection_lost(self) -> None:
        # Without the peer's close frame (EOF, reset, a violation, a dead peer) the client
        # has vanished: the handler is cancelled below, unless it is closing it itself.
        abnormal = not self._peer_closed and not self._closing
        if self._close_code is None:
            self._set_closed(1006, "connection lost")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._gone = True
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(None)
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(WebSocketError(1006, "connection lost in handshake"))
        self._resume_writing()
        self._wake()
        task = self._handler_task
        if abnormal and task is not None and not task.done() and task is not self._receiver:
            # The client vanished: cancel the handler so its `except CancelledError` runs.
            # A handler waiting in receive() learns it there, as WebSocketError(1006).
            task.cancel()
        if self._live is not None:  # leave the server's set once the handler is done too
            self._loop.call_soon(_forget, self._live, self, None)

    def _resume_writing(self) -> None:
        self._paused_writing = False
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- internals ---------------------------------------------------------------------

    def _resumed(self) -> None:
        self._resume = None
        self._process()

    def _opened(self) -> None:
        # The handshake is over: keep the bare Connection (same methods), and let the
        # handshake's objects and the WSConnection wrapper go (about 1 KiB a connection).
        connection = self._conn.connection
        if connection is not None:
            self._conn = connection

    def _write(self, data: bytes) -> None:
        # Frames written in one turn of the loop go out in one send() (an echo of 100
        # pipelined messages: one system call instead of 100, benchmarks/echo.py).
        if data:
            out = self._out
            if out is None:
                self._out = [data]  # no list kept per idle connection
            else:
                out.append(data)
            self._out_size += len(data)
            if self._out_size > _WRITE_HIGH:
                self._flush()
            elif self._flush_handle is None:
                self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        out = self._out
        if not out:
            return
        self._out = None
        self._out_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    async def _drain(self) -> None:
        while self._paused_writing and not self._gone:
            waiter = self._loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = [waiter]
            else:
                self._drain_waiters.append(waiter)
            await waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _set_closed(self, code: int, reason: str) -> None:
        self._close_code = code
        self._close_reason = reason
        self._wake()

    def _start_keepalive(self) -> None:
        # The connection is open: the keepalive state (wsproto_lite.keepalive) runs.
        if self._keepalive is None:
            self._keepalive = Keepalive(
                self.ping_interval, self.ping_timeout, self.close_timeout, self._loop.time()
            )
            self._arm()

    def _closing_started(self) -> None:
        # The closing handshake is under way: close_timeout from now, then the connection
        # is dropped (the keepalive state's EXPIRED).
        keepalive = self._keepalive
        if keepalive is None:
            keepalive = self._keepalive = Keepalive(close_timeout=self.close_timeout)
        keepalive.closing(self._loop.time())
        self._arm()

    def _arm(self) -> None:
        # One timer, at the next time the keepalive state has something to decide.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        keepalive = self._keepalive
        when = None if keepalive is None or self._gone else keepalive.wake_at()
        if when is not None:
            self._timer = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._timer = None
        keepalive = self._keepalive
        if keepalive is None or self._gone:
            return
        action = keepalive.poll(self._loop.time())
        if action == _PING:
            if self._conn.state is _OPEN and self._close_code is None:
                self._write(self._conn.send(Ping(b"keepalive")))
        elif action == DEAD:
            # The peer (or the network) stopped answering: fail with 1011, do not wait.
            if self._conn.state is _OPEN:
                self._write(self._conn.send(CloseConnection(DEAD_CODE, DEAD_REASON)))
            self._set_closed(DEAD_CODE, DEAD_REASON)
            self._drop()
            return
        elif action == EXPIRED:
            self._drop()  # the closing handshake ran out of time
            return
        self._arm()

    def _drop(self) -> None:
        # End the connection now: what is written goes first, then the transport aborts.
        if self._transport is not None:
            self._flush()
            self._transport.abort()

    def _handshake_failed(self, exc: RemoteProtocolError) -> None:
        if self._client:
            self._set_closed(1006, describe(exc))
            if self._handshake is not None and not self._handshake.done():
                self._handshake.set_exception(
                    WebSocketError(1006, "bad handshake: %s" % describe(exc))
                )
        else:
            # Answer a bad request with the status the core chose (400, 405, 426, 431).
            self._answered = True
            self._write(self._conn.send(closing(exc.event_hint)))
            self._set_closed(1006, describe(exc))
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def _handshake_timed_out(self) -> None:
        # Server: the client did not finish its request in time.
        self._timer = None
        if self.request is None and self._transport is not None:
            self._set_closed(1006, "handshake timeout")
            self._flush()
            self._transport.abort()

    def _fail_handshake(self, exc: WebSocketResponseError) -> None:
        self._set_closed(1006, "HTTP %d instead of an upgrade" % exc.status)
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(exc)
        if self._transport is not None:
            self._flush()
            self._transport.close()

    # -- server side -------------------------------------------------------------------

    def _on_request(self, event: RequestEvent) -> None:
        if self._timer is not None:  # the handshake timeout
            self._timer.cancel()
            self._timer = None
        self.request = request_from_event(event)
        if self._handler is not None:
            self._handler_task = self._loop.create_task(self._run_handler(self._handler))

    async def _run_handler(self, handler: Handler) -> None:
        assert self.request is not None
        try:
            await handler(self.request, self)
        except asyncio.CancelledError:
            return  # the client went away and the handler's cleanup has run
        except WebSocketError as exc:
            if exc.code not in NORMAL_CODES:
                logger.debug("handler ended by %s", exc)
        except Exception:
            logger.exception("WebSocket handler failed")
            if not self._answered:
                await self.reject(500)
            elif self._close_code is None:
                await self.close(1011)  # no details on the wire
            return
        if not self._answered:
            await self.reject(403)
        else:
            await self.close(1000)


# -- server ------------------------------------------------------------------------------


class Server:
    """A listening WebSocket server: `port`, `serve_forever()`, `close()`, `wait_closed()`."""

    def __init__(self, server: asyncio.Server, live: "set[WebSocket]") -> None:
        self._server = server
        self._live = live
        self._port = int(server.sockets[0].getsockname()[1])
        self._closed = False

    @property
    def port(self) -> int:
        """The port it listens on (useful after asking for port 0; kept after close())."""
        return self._port

    @property
    def sockets(self) -> "tuple[Any, ...]":
        """The listening sockets."""
        return tuple(self._server.sockets)

    async def serve_forever(self) -> None:
        """Serve until close() (then return) or cancellation (which propagates)."""
        try:
            await self._server.serve_forever()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            cancelling = getattr(task, "cancelling", None)  # Python 3.11+
            if self._closed and (cancelling is None or cancelling() == 0):
                return  # asyncio cancels serve_forever() when close() is called
            raise

    def close(self) -> None:
        """Stop listening and close every open connection with 1001 (going away)."""
        self._closed = True
        self._server.close()
        for ws in list(self._live):
            ws._loop.create_task(ws.close(1001))

    async def wait_closed(self) -> None:
        """Wait until the listener and every connection are closed and handlers finished."""
        while self._live:
            live = list(self._live)
            await asyncio.gather(*(ws._lost_future() for ws in live))
            tasks = [ws._handler_task for ws in live if ws._handler_task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # let the done callbacks above empty the set
        await self._server.wait_closed()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


def _server_protocol(
    handler: Handler,
    *,
    handshake_timeout: float = 10.0,
    websocket_class: "type[WebSocket]" = WebSocket,
    **options: Any,
) -> _Protocol:
    # One incoming connection's server side, for serve() and transports.testing alike:
    # the WebSocket that will run `handler`, with the handshake timer armed.
    ws = websocket_class(False, **options)
    ws._handler = handler
    # A client that never finishes its request is dropped.
    ws._timer = ws._loop.call_later(handshake_timeout, ws._handshake_timed_out)
    return _Protocol(ws)


def _forget(live: "set[WebSocket]", ws: WebSocket, _: object) -> None:
    # The connection is lost: drop it from the server's set once its handler is done.
    task = ws._handler_task
    if task is None or task.done():
        live.discard(ws)
    else:
        task.add_done_callback(partial(_forget, live, ws))


class _Serve:
    # serve(...) is both awaitable (server = await serve(...)) and `async with`.
    def __init__(self, start: Callable[[], Awaitable[Server]]) -> None:
        self._start = start
        self._server: Optional[Server] = None

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._start()
        return self._server

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def serve(
    handler: Handler,
    host: Optional[str] = "127.0.0.1",
    port: int = 0,
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = 20.0,
    max_message_length: Optional[int] = None,
    compression: Any = "deflate",
    websocket_class: "type[WebSocket]" = WebSocket,
    backlog: int = 100,
) -> _Serve:
    """Listen for WebSocket connections and run `handler(request, ws)` for each.

    The handler starts before the upgrade is answered: `await ws.accept()` (or the first
    receive() or send()) accepts, `await ws.reject(status, body)` refuses, and returning
    or raising before either answers 403 (500 for an exception). After accepting,
    returning closes with 1000 and an exception closes with 1011 (logged, no details
    on the wire). A client that vanishes cancels the handler's task.

    `compression`: "deflate" (the default) agrees to permessage-deflate when the client
    offers it; None turns it off; a PerMessageDeflate sets its terms (copied per
    connection).
    """
    check_compression(compression)

    async def start() -> Server:
        loop = asyncio.get_running_loop()
        live: set[WebSocket] = set()

        def factory() -> _Protocol:
            protocol = _server_protocol(
                handler,
                handshake_timeout=handshake_timeout,
                websocket_class=websocket_class,
                close_timeout=close_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_message_length=max_message_length,
                compression=compression,
            )
            ws = protocol.ws
            live.add(ws)  # until it is closed and its handler has finished
            ws._live = live
            return protocol

        server = await loop.create_server(factory, host, port, ssl=ssl, backlog=backlog)
        return Server(server, live)

    return _Serve(start)


# -- client ------------------------------------------------------------------------------


class _Connect:
    # connect(...) is both awaitable (ws = await connect(...)) and `async with`.
    def __init__(self, start: Callable[[], Awaitable[WebSocket]]) -> None:
        self._start = start
        self._ws: Optional[WebSocket] = None

    def __await__(self) -> Generator[Any, None, WebSocket]:
        return self._start().__await__()

    async def __aenter__(self) -> WebSocket:
        self._ws = await self._start()
        return self._ws

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._ws is not None
        await self._ws.close()


def connect(
    url: str,
    *,
    subprotocols: Optional[List[str]] = None,
    headers: Optional[List[Tuple[Union[bytes, str], Union[bytes, str]]]] = None,
    ssl: Optional[_ssl.SSLContext] = None,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = 20.0,
    max_message_length: Optional[int] = None,
    compression: Any = "deflate",
    websocket_class: "type[WebSocket]" = WebSocket,
) -> _Connect:
    """Open a WebSocket connection to a ws:// or wss:// URL.

    Raises WebSocketResponseError when the server answers with an HTTP response (its
    status, headers and body attached), WebSocketError for a failed or timed-out
    handshake, and OSError when the TCP connection fails. `compression` is what
    serve() takes: "deflate" (the default) offers permessage-deflate, None offers nothing.
    """
    check_compression(compression)

    async def start() -> WebSocket:
        secure, host, port, target = parse_url(url)
        loop = asyncio.get_running_loop()
        ws = websocket_class(
            True,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_message_length=max_message_length,
        )
        context = ssl if ssl is not None else (_ssl.create_default_context() if secure else None)

        async def handshake() -> None:
            await loop.create_connection(
                lambda: _Protocol(ws),
                host,
                port,
                ssl=context,
                server_hostname=host if context else None,
            )
            ws._handshake = loop.create_future()
            event, ws.request = client_request(
                host, port, secure, target, subprotocols, headers, compression
            )
            ws._write(ws._conn.send(event))
            await ws._handshake

        try:
            await asyncio.wait_for(handshake(), open_timeout)
        except asyncio.TimeoutError:
            if ws._transport is not None:
                ws._transport.abort()
            raise WebSocketError(1006, "opening handshake timed out") from None
        except BaseException:
            if ws._transport is not None:
                ws._transport.abort()
            raise
        return ws

    return _Connect(start)


# -- frameworks that route HTTP themselves -------------------------------------------------


async def websocket_upgrade(
    request: Any, subprotocol: Optional[str] = None, **options: Any
) -> WebSocket:
    """Upgrade a request that another framework parsed, and return the accepted WebSocket.

    `request` needs `method`, `path` (or `url`), `headers` (a mapping or pairs) and the
    connection's streams as `request.sock = (reader, writer)` (Microdot's shape) or
    `request.reader` / `request.writer`. Raises WebSocketError (after answering with the
    right HTTP status) when the request is not a valid upgrade.
    """
    if hasattr(request, "sock"):
        reader, writer = request.sock[0], request.sock[1]
    else:
        reader, writer = request.reader, request.writer
    transport = writer.transport
    raw_headers = request.headers
    pairs = list(raw_headers.items()) if hasattr(raw_headers, "items") else list(raw_headers)
    path = getattr(request, "url", None) or request.path
    ws = WebSocket(False, **options)
    ws._transport = transport
    method = str(getattr(request, "method", "GET")).upper()
    if method != "GET":  # RFC 6455 §4.1: the upgrade is a GET
        ws._answered = True
        ws._write(ws._conn.send(closing(RejectConnection(405, [(b"allow", b"GET")]))))
        ws._flush()
        transport.close()
        raise WebSocketError(1006, "not a WebSocket upgrade: method %s" % method)
    try:
        ws._conn.initiate_upgrade_connection(pairs, path)
    except RemoteProtocolError as exc:
        ws._handshake_failed(exc)
        raise WebSocketError(1006, "not a WebSocket upgrade: %s" % describe(exc)) from None
    for event in ws._conn.events():  # the Request that initiate_upgrade_connection queued
        if isinstance(event, RequestEvent):
            ws._on_request(event)
    # Bytes the framework's reader already buffered belong to the WebSocket now.
    leftover = bytes(getattr(reader, "_buffer", b""))
    if leftover:
        reader._buffer.clear()
    transport.set_protocol(_UpgradedProtocol(ws, transport.get_protocol()))
    transport.set_write_buffer_limits(high=_WRITE_HIGH)
    await ws.accept(subprotocol)
    if leftover:
        ws._data_received(leftover)
    return ws


def with_websocket(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Decorate a framework route `handler(request, ws, ...)`: upgrade, run, then close."""

    async def route(request: Any, *args: Any, **kwargs: Any) -> Any:
        ws = await websocket_upgrade(request)
        try:
            result = await handler(request, ws, *args, **kwargs)
        except Exception:
            await ws.close(1011)  # no details on the wire; the framework sees the exception
            raise
        await ws.close()
        return result

    return route
