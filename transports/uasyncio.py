"""MicroPython asyncio transport: the WebSocket facade over asyncio streams.

Loads on MicroPython (its `asyncio`, streams with read/write/drain/close/wait_closed)
and on CPython (asyncio's StreamReader/StreamWriter pair). Receive-driven: the socket
is read inside receive() and close(), so a connection costs a few small objects and
no task of its own; pings are answered while the application is inside receive().

Keepalive (wsproto_lite.keepalive) runs in one task per server (or per client
connection), which pings the silent connections and ends the dead ones: it cancels
the task blocked on a dead connection's socket, which then raises WebSocketError(1011).
A MemoryError while receiving ends that connection with 1009 (DESIGN section 4); the
server's own accept loop survives one, refusing the connection it cannot hold.
"""

import asyncio
import gc

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite._compat import MICROPYTHON, TYPE_CHECKING
from wsproto_lite.errors import LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    TextMessage,
)
from wsproto_lite.events import Request as RequestEvent
from wsproto_lite.keepalive import DEAD, DEAD_CODE, DEAD_REASON, WAIT, Keepalive
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
    "Server",
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
# Inside a large frame, one read takes what its header says is still due, up to
# _BIG_READ (and the message limit, which the core checked at the header): a 16 KiB
# message in two reads instead of nine, twice the echo rate on the unix port. On
# MicroPython only with a heap of 512 KiB or more (read once: gc.mem_free() walks the
# heap): in a small, fragmented heap a big buffer is what makes the message no longer
# fit. A big read that meets a MemoryError anyway falls back to small ones.
_READ_SIZE = 2048
_BIG_READ = 16384
try:
    _BIG_READS = gc.mem_free() + gc.mem_alloc() >= 32 * _BIG_READ  # type: ignore[attr-defined]
except AttributeError:  # CPython
    _BIG_READS = True
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

# The clock keepalive runs on: integer milliseconds, which MicroPython keeps without heap
# (a float is an allocation). There, ticks_ms() wraps (every 2**30 ms on the unix port),
# so the elapsed ticks are summed into a count that does not; each keepalive task reads
# it at least once per ping_interval, well within a wrap.
try:
    from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

    _clock = [0, ticks_ms()]

    def _now() -> int:
        clock = _clock
        t = ticks_ms()
        clock[0] += ticks_diff(t, clock[1])
        clock[1] = t
        now: int = clock[0]
        return now

except ImportError:  # CPython
    from time import monotonic

    def _now() -> int:
        return int(monotonic() * 1000)


def _ms(seconds: "Optional[float]") -> "Optional[int]":
    return None if seconds is None else int(seconds * 1000)


def _uncancel(task: "Any") -> None:
    # A cancellation we caught on purpose (keepalive ended the connection): CPython
    # counts it (Task.cancelling()); MicroPython keeps no count.
    uncancel = getattr(task, "uncancel", None)
    if uncancel is not None:
        uncancel()


class _Watch:
    """The connections of one server (or one client) with keepalive on, and the one task
    that keeps their time: it pings the silent ones and ends the dead ones (_tick)."""

    def __init__(self, interval: int) -> None:
        self.interval = interval  # ms; the task never sleeps longer (a new connection's
        # first deadline is an interval after it joins, so it is never missed)
        self.connections: "Any" = set()
        self.task: "Any" = None
        self.pending: "Any" = set()  # keepalive pings being sent: kept, so not collected

    def spawn(self, coro: "Any") -> None:
        task = asyncio.create_task(self._one(coro))
        self.pending.add(task)

    async def _one(self, coro: "Any") -> None:
        try:
            await coro
        finally:
            self.pending.discard(asyncio.current_task())

    def add(self, ws: "WebSocket") -> None:
        self.connections.add(ws)
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    def discard(self, ws: "WebSocket") -> None:
        connections = self.connections
        connections.discard(ws)
        if not connections:
            self.stop()

    def stop(self) -> None:
        # No connection left to watch (or the server is closing): the task ends now,
        # not an interval later.
        task = self.task
        if task is not None:
            self.task = None
            task.cancel()

    async def _run(self) -> None:
        try:
            while self.connections:
                now = _now()
                wake = now + self.interval
                for ws in list(self.connections):
                    at = ws._tick(now)
                    if at is None:
                        self.connections.discard(ws)
                    elif at < wake:
                        wake = at
                await asyncio.sleep(max(0, wake - _now()) / 1000)
        except asyncio.CancelledError:
            pass  # stop(): nothing left to watch
        finally:
            if self.task is asyncio.current_task():
                self.task = None


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

    #: The largest message accepted, in bytes; -1 means the default limit (1 MiB; 16 KiB
    #: on MicroPython, what a small board can assemble) and 0 means no limit. A larger
    #: message closes the connection with 1009, and receive() raises WebSocketError.
    max_message_length = -1

    #: Seconds close() waits for the peer's close frame.
    close_timeout = 10.0

    #: Keepalive: a ping after this many seconds of silence (None: no pings), and the
    #: connection fails with 1011 when nothing comes within ping_timeout after it.
    ping_interval: "Optional[float]" = None
    ping_timeout: "Optional[float]" = 20.0

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
    _keepalive: "Optional[Keepalive]" = None  # while open, with ping_interval set
    _watch: "Optional[_Watch]" = None  # the keepalive task's set this connection is in
    _reading: "Any" = None  # with keepalive: the task waiting in read(), if any
    _writing: "Any" = None  # with keepalive: the task waiting in drain(), if any
    _dead = False  # keepalive ended the connection (and cancelled _reading, _writing)
    _small_reads = False  # a big read (_BIG_READ) ran out of heap: _READ_SIZE only
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
        ping_interval: "Optional[float]" = None,
        ping_timeout: "Optional[float]" = 20.0,
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
        if ping_interval != WebSocket.ping_interval:
            self.ping_interval = ping_interval
        if ping_timeout != WebSocket.ping_timeout:
            self.ping_timeout = ping_timeout

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
                keepalive = self._keepalive
                size = conn.due
                if size < _READ_SIZE or self._small_reads or not _BIG_READS:
                    size = _READ_SIZE
                elif size > _BIG_READ:
                    size = _BIG_READ
                try:
                    if keepalive is None:
                        data = await self._reader.read(size)
                    else:
                        self._reading = asyncio.current_task()
                        data = await self._reader.read(size)
                        self._reading = None
                        keepalive.heard(_now())
                except OSError:
                    data = b""
                except MemoryError:
                    # Nothing was read (the buffer comes first): a big read retries
                    # small from now on, a small one that fails ends the connection.
                    self._reading = None
                    if size > _READ_SIZE:
                        self._small_reads = True
                        gc.collect()
                    else:
                        await self._out_of_memory()
                    continue
                except asyncio.CancelledError:
                    if not self._dead:
                        raise
                    _uncancel(asyncio.current_task())
                    await self._shutdown(True)
                    continue  # _take() reports the 1011 close
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
        stuck = False
        if self._conn.state is _OPEN and self._close_code is None:
            keepalive = self._keepalive
            if keepalive is None:
                left = self.close_timeout
            else:  # the keepalive state keeps the deadline (and pings stop)
                now = _now()
                keepalive.closing(now)
                left = keepalive.close_left(now) / 1000
            out = self._conn.send(CloseConnection(code=code, reason=reason))
            try:  # our close frame (behind a peer that may not read), then the peer's
                await asyncio.wait_for(self._await_close(out), left)
            except asyncio.TimeoutError:
                stuck = True
            if self._close_code is None:
                self._close_code = code
                self._close_reason = reason
        await self._shutdown(stuck)

    async def _await_close(self, out: bytes) -> None:
        # Send our close frame, then read (and drop messages) until the peer's close or EOF.
        await self._send_bytes(out)
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
        interval = self.ping_interval
        if interval is not None:
            self._keepalive = Keepalive(
                _ms(interval), _ms(self.ping_timeout), int(self.close_timeout * 1000), _now()
            )
            watch = self._watch  # a server's; else (a client) one of its own
            if watch is None:
                watch = self._watch = _Watch(_ms(interval))  # type: ignore[arg-type]
            watch.add(self)

    def _tick(self, now: int) -> "Optional[float]":
        # From the keepalive task: act on the keepalive state; return when to come back
        # (None: the connection is over, leave the set).
        keepalive = self._keepalive
        if keepalive is None or self._dead or self._close_code is not None:
            return None
        action = keepalive.poll(now)
        if action == _PING:
            watch = self._watch
            if self._conn.state is _OPEN and watch is not None:
                watch.spawn(self._send_quietly(self._conn.send(Ping(b"keepalive"))))
        elif action == DEAD:
            self._expire()
            return None
        elif action != WAIT:  # EXPIRED: close() is ending it (its own wait gives up)
            return None
        return keepalive.wake_at()

    def _expire(self) -> None:
        # The peer stopped answering: 1011. The close frame goes only if no write is under
        # way (it would cut into it); the task blocked on the socket is cancelled, and
        # what it was doing (receive(), send()) raises WebSocketError(1011).
        self._dead = True
        self._close_code = DEAD_CODE
        self._close_reason = DEAD_REASON
        if self._conn.state is _OPEN:
            out = self._conn.send(CloseConnection(DEAD_CODE, DEAD_REASON))
            if self._write_wait is None:
                try:
                    (self._writer or self._reader).write(out)  # type: ignore[union-attr]
                except OSError:
                    pass
        reading = self._reading
        writing = self._writing
        self._reading = self._writing = None
        for task in (reading, writing):
            if task is not None:
                task.cancel()
        if reading is None and writing is None and self._watch is not None:
            self._watch.spawn(self._shutdown(True))

    async def _send_quietly(self, data: bytes) -> None:
        # A keepalive ping, from its own task: a connection ending meanwhile is no error.
        try:
            await self._send_bytes(data)
        except WebSocketError:
            pass

    async def _out_of_memory(self) -> None:
        # A read could not be allocated: end this connection with 1009 and free it. The
        # close frame goes if the heap has room for it once collected (a few bytes).
        gc.collect()
        out = b""
        try:
            if self._conn.state is _OPEN and self._close_code is None:
                out = self._conn.send(CloseConnection(1009, "out of memory"))
        except MemoryError:
            pass
        self._conn.receive_data(None)  # nothing more is parsed; the core lets go
        if self._close_code is None:
            self._close_code = 1009
            self._close_reason = "out of memory"
        self._eof = True
        if out:
            try:
                await self._send_bytes(out)
            except MemoryError:
                pass
        await self._shutdown()

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
        keepalive = self._keepalive is not None
        try:
            writer.write(data)
            if keepalive:  # a dead peer's full window would hold drain() for ever
                self._writing = asyncio.current_task()
            await writer.drain()
        except OSError:
            if self._close_code is None:
                self._close_code = 1006
                self._close_reason = "connection lost"
        except asyncio.CancelledError:
            if not self._dead:
                raise
            _uncancel(asyncio.current_task())
            await self._shutdown(True)
            raise WebSocketError(self._close_code or 1006, self._close_reason) from None
        finally:
            if keepalive:
                self._writing = None
            wait = self._write_wait
            self._write_wait = None
            if wait is not _BUSY:
                wait.set()

    async def _shutdown(self, stuck: bool = False) -> None:
        # Close the socket. `stuck`: the peer stopped reading (dead, or close() timed
        # out), so what CPython's transport still buffers would hold wait_closed() for
        # ever: it is dropped. MicroPython's stream buffers nothing past drain().
        watch = self._watch
        if watch is not None:
            watch.discard(self)
        writer: "Any" = self._writer or self._reader
        try:
            writer.close()
            transport = getattr(writer, "transport", None) if stuck else None
            if transport is not None and transport.get_write_buffer_size():
                transport.abort()
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
    ping_interval: "Optional[float]" = None,
    ping_timeout: "Optional[float]" = 20.0,
    watch: "Optional[_Watch]" = None,
) -> None:
    """Serve one accepted connection: read the upgrade request, then run the handler.

    `watch` is the server's keepalive set (serve() passes it); without one, a connection
    with keepalive gets a keepalive task of its own.
    """
    try:
        ws = WebSocket(
            reader,
            writer,
            False,
            close_timeout,
            max_message_length,
            compression,
            ping_interval,
            ping_timeout,
        )
    except MemoryError:
        # No room for one more connection: refuse it, keep serving the others.
        await _close_stream(writer)
        return
    if watch is not None:
        ws._watch = watch
    ws._phase = _WAITING  # the handler answers: accept() or reject()
    try:
        if not await _read_request(ws, handshake_timeout):
            await ws._shutdown()
            return
    except MemoryError:
        await ws._shutdown()
        return
    # The handler lifecycle of DESIGN.md section 3, as in transports.asyncio.
    try:
        await handler(ws._request, ws)
    except WebSocketError:
        pass
    except Exception as exc:
        if isinstance(exc, MemoryError):
            gc.collect()  # the handler's own allocation failed: free what it held first
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


async def _close_stream(writer: "Any") -> None:
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass


class Server:
    """What serve() returns: close() stops accepting, wait_closed() waits for that.

    On MicroPython it runs its own accept loop (as asyncio's start_server does, on the
    same event queue), so that a MemoryError while taking a connection refuses that one
    connection instead of ending the server; on CPython it wraps asyncio's server.
    Connections already open are not closed by close().
    """

    def __init__(self) -> None:
        self._task: "Any" = None  # MicroPython: the accept loop
        self._server: "Any" = None  # CPython: asyncio's server
        self._sock: "Any" = None
        self._watch: "Optional[_Watch]" = None  # the keepalive set, with ping_interval
        self.port = 0  # the port listened on (CPython; MicroPython: the one asked for)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._watch is not None:  # open connections keep their close_timeout
            self._watch.stop()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _accept(
        self, sock: "Any", client: "Callable[[Any, Any], Awaitable[None]]", reserve: int
    ) -> "Any":
        # MicroPython only, where a generator is a coroutine: asyncio's own accept loop
        # (asyncio/stream.py, which waits on the socket by yielding to the I/O queue), but
        # a MemoryError (or any failure) while taking one connection closes that socket
        # and goes on.
        from asyncio import core  # type: ignore[attr-defined]
        from asyncio.stream import Stream  # type: ignore[import-not-found,unused-ignore]

        while True:
            yield core._io_queue.queue_read(sock)
            try:
                conn, addr = sock.accept()
            except Exception:  # EAGAIN, EMFILE, MemoryError: nothing to keep
                gc.collect()
                continue
            if gc.mem_free() < reserve:  # type: ignore[attr-defined]
                gc.collect()
                if gc.mem_free() < reserve:  # type: ignore[attr-defined]
                    # A new connection would take the heap the open ones need to read,
                    # answer and close: refuse it (closed unanswered), keep serving.
                    conn.close()
                    continue
            try:
                conn.setblocking(False)
                stream = Stream(conn, {"peername": addr})
                # MicroPython's task queue holds the task (as in its start_server).
                asyncio.create_task(client(stream, stream))  # type: ignore[arg-type]  # noqa: RUF006
            except Exception:
                stream = None
                conn.close()
                gc.collect()


async def serve(
    handler: "Handler",
    host: str = "127.0.0.1",
    port: int = 8765,
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
    compression: "Any" = "deflate",
    ping_interval: "Optional[float]" = None,
    ping_timeout: "Optional[float]" = 20.0,
    backlog: int = 5,
    heap_reserve: int = 48 << 10,
) -> Server:
    """Listen and run `handler(request, ws)` per connection; returns a Server.

    Same handler semantics as transports.asyncio.serve: accept explicitly or on the
    first receive()/send(); returning before accepting answers 403, raising 500.
    `compression` as there too; on MicroPython, which has no usable zlib, it declines.
    With `ping_interval`, one task pings the server's silent connections and fails those
    that stay silent for `ping_timeout` after a ping with 1011. On MicroPython a new
    connection is refused (closed unanswered) while the free heap, once collected, is
    under `heap_reserve` bytes: what is left belongs to the connections already open.
    """
    check_compression(compression)
    watch = None if ping_interval is None else _Watch(_ms(ping_interval))  # type: ignore[arg-type]

    def client(reader: "Reader", writer: "Writer") -> "Awaitable[None]":
        return serve_connection(
            reader,
            writer,
            handler,
            handshake_timeout,
            close_timeout,
            max_message_length,
            compression,
            ping_interval,
            ping_timeout,
            watch,
        )

    server = Server()
    server.port = port
    server._watch = watch
    if MICROPYTHON:
        import socket

        info = socket.getaddrinfo(host, port)[0]
        sock = socket.socket(info[0])
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[-1])
        sock.listen(backlog)
        server._sock = sock
        server._task = asyncio.create_task(server._accept(sock, client, heap_reserve))
    else:
        server._server = await asyncio.start_server(client, host, port, backlog=backlog)
        server.port = server._server.sockets[0].getsockname()[1]
    return server


async def connect(
    url: str,
    subprotocols: "Optional[List[str]]" = None,
    headers: "Optional[HeaderPairs]" = None,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_message_length: "Optional[int]" = None,
    streams: "Optional[Tuple[Reader, Writer]]" = None,
    compression: "Any" = "deflate",
    ping_interval: "Optional[float]" = None,
    ping_timeout: "Optional[float]" = 20.0,
) -> WebSocket:
    """Open a WebSocket connection to a ws:// URL (`streams` replaces the TCP connection).

    Raises WebSocketResponseError when the server answers with an HTTP response.
    `compression` offers permessage-deflate where zlib can do it (not on MicroPython).
    With `ping_interval`, a task of its own keeps the connection's keepalive.
    """
    check_compression(compression)
    secure, host, port, target = parse_url(url)
    if streams is None:
        if secure:
            raise ValueError("wss:// needs streams set up with TLS by the caller")
        opened: "Tuple[Reader, Writer]" = await asyncio.open_connection(host, port)
        streams = opened
    reader, writer = streams
    ws = WebSocket(
        reader,
        writer,
        True,
        close_timeout,
        max_message_length,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
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
