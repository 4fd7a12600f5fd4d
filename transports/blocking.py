"""Blocking-socket transport: the WebSocket facade with blocking methods, for threads.

Receive-driven: the socket is read inside receive() and close() under a read lock, so no
thread runs per connection beyond the application's own; send() takes a send lock and
uses sendall(), so threads can send and receive at once. Every wait has a timeout.
The server runs one thread per connection: handlers are plain blocking functions.
"""

import select
import socket
import threading
import time
from typing import Any, Callable, List, Optional, Tuple, Union

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    TextMessage,
)
from wsproto_lite.events import Request as RequestEvent
from wsproto_lite.keepalive import DEAD, DEAD_CODE, DEAD_REASON, Keepalive
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

Handler = Callable[[Request, "WebSocket"], Any]
HeaderPairs = List[Tuple[Union[bytes, str], Union[bytes, str]]]
_READ_SIZE = 65536
_OPEN = ConnectionState.OPEN


def _log_failure(message: str) -> None:
    import logging

    logging.getLogger("wsproto_lite.transports.blocking").exception(message)


class WebSocket:
    """One WebSocket connection over a connected socket, with blocking methods.

    receive() gives whole messages (str for text, bytes for binary); send() picks text or
    binary from the data's type; close() runs the closing handshake and may be called
    from another thread (it wakes a blocked receive()). When the connection ends,
    receive() and send() raise WebSocketError with the close code and reason.
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
        sock: socket.socket,
        client: bool,
        *,
        close_timeout: float = 10.0,
        send_timeout: Optional[float] = 30.0,
        max_message_length: Optional[int] = None,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = 20.0,
        compression: Any = "deflate",
    ) -> None:
        limit = message_limit(
            self.max_message_length if max_message_length is None else max_message_length
        )
        check_compression(compression)
        # "deflate", None or a PerMessageDeflate to copy: what accept() agrees to (server).
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
        self._sock = sock
        sock.settimeout(send_timeout)  # reads wait in select(); this bounds sendall()
        self._client = client
        # _lock: every use of the core and every write, so frames leave in the order they
        # were made and the state cannot change between a check and a send.
        # _read_lock: one thread reads the socket at a time (it waits without _lock).
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._closed_cond = threading.Condition()
        self._close_code: Optional[int] = None
        self._close_reason = ""
        self._accepted = client
        self._answered = client
        self._eof = False
        self._linger = False  # a violation's close frame is out; drain, then close
        self._sock_closed = False
        self.close_timeout = close_timeout
        # Keepalive (wsproto_lite.keepalive), while a thread is in receive(): a ping after
        # ping_interval of silence; no byte within ping_timeout after it fails with 1011.
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._keepalive = Keepalive(ping_interval, ping_timeout, close_timeout, time.monotonic())
        #: The upgrade request, the client's on a server and ours on a client.
        self.request: Optional[Request] = None
        #: The subprotocol agreed in the handshake, or None.
        self.subprotocol: Optional[str] = None

    # -- public API --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self._close_code is not None or self._conn.state is not _OPEN

    @property
    def close_code(self) -> Optional[int]:
        """The close code once the connection has ended (1006: lost without a close)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection has ended."""
        return self._close_reason

    def accept(
        self, subprotocol: Optional[str] = None, headers: Optional[HeaderPairs] = None
    ) -> None:
        """Server: answer the upgrade with 101 (the first receive() or send() does it too)."""
        if self._accepted:
            return
        if self._answered:
            raise WebSocketError(self._close_code or 1006, "the upgrade was rejected")
        self._answered = self._accepted = True
        self.subprotocol = subprotocol
        with self._lock:
            accept = AcceptConnection(
                subprotocol=subprotocol,
                extensions=compression_extensions(self._compression, False),
                extra_headers=headers,
            )
            self._sendall(self._conn.send(accept))
            self._opened()

    def reject(
        self,
        status: int = 403,
        body: Union[bytes, str] = b"",
        headers: Optional[HeaderPairs] = None,
    ) -> None:
        """Server: answer the upgrade with an HTTP response instead, then close."""
        if self._answered:
            raise LocalProtocolError("the upgrade was answered already")
        self._answered = True
        with self._lock:
            head, data = rejection(status, body, headers)
            out = self._conn.send(head) + self._conn.send(data)
            self._sendall(out)
        self._set_closed(1006, "rejected with HTTP %d" % status)
        self._close_socket()

    def receive(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next message: str for text, bytes for binary.

        Raises TimeoutError when `timeout` seconds pass without one (nothing is lost:
        call again), and WebSocketError once the connection is over.
        """
        if not self._accepted:
            self.accept()
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._read_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("another thread is receiving")
        try:
            while True:
                message = self._step(deadline)
                if message is not None:
                    return message
                if self._close_code is not None:
                    raise WebSocketError(self._close_code, self._close_reason)
        finally:
            self._read_lock.release()

    def send(
        self, data: Union[str, bytes, bytearray, memoryview], opcode: Optional[int] = None
    ) -> None:
        """Send a message: str as text, bytes-like as binary, unless `opcode` says otherwise.

        Blocks while the peer does not read, up to `send_timeout` (then the connection
        is dropped and WebSocketError(1006) raised).
        """
        if not self._accepted:
            self.accept()
        if opcode == CLOSE:
            self.close()
            return
        event = message_event(data, opcode)
        with self._lock:
            if self._close_code is not None or self._conn.state is not _OPEN:
                raise WebSocketError(self._close_code or 1006, self._close_reason)
            self._sendall(self._conn.send(event))
        if self._close_code == 1006:
            raise WebSocketError(1006, self._close_reason)

    def ping(self, data: Union[bytes, str] = b"") -> None:
        """Send a ping (pongs are swallowed)."""
        self.send(data, PING)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake, from any thread; returns within `close_timeout`.

        On a server whose upgrade is not answered yet, rejects it with 403 instead.
        """
        if not self._answered:
            self.reject(403)
            return
        if self._linger:
            self._finish_failure()
            return
        deadline = self._closing_deadline()
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            # Another thread is stuck in send() on a peer that does not read: give up.
            self._set_closed(1006, "close timed out behind a blocked send")
            self._close_socket()
            return
        try:
            if self._conn.state is _OPEN and self._close_code is None:
                self._sendall(self._conn.send(CloseConnection(code=code, reason=reason)))
        finally:
            self._lock.release()
        if self._read_lock.acquire(blocking=False):
            try:  # nobody is receiving: read the peer's close ourselves
                while self._close_code is None and time.monotonic() < deadline:
                    try:
                        self._step(deadline)
                    except TimeoutError:
                        break
            finally:
                self._read_lock.release()
        else:  # a receive() in another thread will see the peer's close
            with self._closed_cond:
                self._closed_cond.wait_for(
                    lambda: self._close_code is not None, max(0.0, deadline - time.monotonic())
                )
        if self._close_code is None:
            self._set_closed(code, reason)
        self._close_socket()

    def __iter__(self) -> "WebSocket":
        return self

    def __next__(self) -> Union[str, bytes]:
        try:
            return self.receive()
        except WebSocketError as exc:
            if exc.code in NORMAL_CODES:
                raise StopIteration from None
            raise

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _step(self, deadline: Optional[float]) -> Optional[Union[str, bytes]]:
        # Process what the core holds; wait for and read more only when nothing came of it.
        # The caller holds _read_lock; the core is used under _lock, the wait is not.
        with self._lock:
            message = self._pull()
        if message is not None or self._close_code is not None:
            return message
        if self._eof or self._sock_closed:
            self._set_closed(1006, "connection lost")
            return None
        # While closing, close() keeps the closing deadline (and closes the socket at it).
        keepalive = self._keepalive
        wake = None if keepalive.is_closing else keepalive.wake_at()
        if deadline is not None and (wake is None or deadline < wake):
            wake = deadline
        try:
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            ready, _, _ = select.select([self._sock], [], [], timeout)
        except (OSError, ValueError):  # closed by close() in another thread
            ready = [self._sock]
        if not ready:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("no message within the timeout")  # nothing was consumed
            self._tick()
            return None
        try:
            data = self._sock.recv(_READ_SIZE)
        except (OSError, ValueError):  # reset, or closed by close() in another thread
            data = b""
        self._keepalive.heard(time.monotonic())  # any byte from the peer shows it is alive
        with self._lock:
            if not data:
                self._eof = True
                self._conn.receive_data(None)
            else:
                self._conn.receive_data(data)
        return None

    def _tick(self) -> None:
        # Called from receive() when the keepalive state's time came with nothing to read.
        action = self._keepalive.poll(time.monotonic())
        if action == _PING:
            with self._lock:
                if self._conn.state is _OPEN and self._close_code is None:
                    self._sendall(self._conn.send(Ping(b"keepalive")))
        elif action == DEAD:
            # The peer (or the network) stopped answering: fail with 1011, do not wait.
            with self._lock:
                if self._conn.state is _OPEN:
                    self._sendall(self._conn.send(CloseConnection(DEAD_CODE, DEAD_REASON)))
            self._set_closed(DEAD_CODE, DEAD_REASON)
            self._close_socket()

    def _closing_deadline(self) -> float:
        # The closing handshake starts (or goes on): when it must be over.
        now = time.monotonic()
        self._keepalive.closing(now)
        return now + self._keepalive.close_left(now)

    def _finish_failure(self) -> None:
        # After our close frame for a violation (1002, 1007, 1009) the peer may still be
        # sending (the rest of a message too big). Closing then would reset the
        # connection and lose our close frame with it; so _pull() sent FIN at once, and
        # here (from close()) we drop what comes until the peer's EOF, for at most
        # close_timeout.
        self._linger = False
        deadline = self._closing_deadline()
        while not self._sock_closed:
            remaining = deadline - time.monotonic()
            try:
                ready, _, _ = select.select([self._sock], [], [], max(0.0, remaining))
                if not ready or not self._sock.recv(_READ_SIZE):
                    break
            except (OSError, ValueError):
                break
        self._close_socket()

    def _pull(self) -> Optional[Union[str, bytes]]:
        # Under _lock: events until a message; replies (pongs, close echo) are written here.
        conn = self._conn
        message = None
        while True:
            event = conn.next_event()
            if event is None:
                break
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                message = event.data
                break
            if isinstance(event, CloseConnection):
                self._sendall(conn.data_to_send())
                self._set_closed(int(event.code), event.reason or "")
                if type(event) is not CloseConnection:
                    self._linger = True  # we failed the connection: see _finish_failure()
                    try:
                        self._sock.shutdown(socket.SHUT_WR)  # FIN after our close frame
                    except OSError:
                        pass
                elif not self._client:
                    self._close_socket()  # RFC 6455 §7.1.1: the server closes TCP first
                return None
        self._sendall(conn.data_to_send())  # pongs
        return message

    def _opened(self) -> None:
        connection = self._conn.connection
        if connection is not None:
            self._conn = connection

    def _send_bytes(self, data: bytes) -> None:
        if data:
            with self._lock:
                self._sendall(data)

    def _sendall(self, data: bytes) -> None:
        # Caller holds _lock. A peer that stops reading hits send_timeout.
        if not data or self._sock_closed:
            return
        try:
            self._sock.sendall(data)
        except OSError:
            self._set_closed(1006, "connection lost while sending")
            self._close_socket()

    def _set_closed(self, code: int, reason: str) -> None:
        with self._closed_cond:
            if self._close_code is None:
                self._close_code = code
                self._close_reason = reason
            self._closed_cond.notify_all()

    def _close_socket(self) -> None:
        if self._sock_closed:
            return
        self._sock_closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a receive() blocked in select()
        except OSError:
            pass
        self._sock.close()

    def _read_handshake(self, timeout: float) -> List[Any]:
        deadline = time.monotonic() + timeout
        while True:
            events = list(self._conn.handshake.events())
            if events:
                return events
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._sock], [], [], max(0.0, remaining))
            if not ready:
                raise TimeoutError("opening handshake timed out")
            data = self._sock.recv(_READ_SIZE)
            self._conn.receive_data(data or None)
            if not data:
                return list(self._conn.handshake.events())


def _run_handler(ws: WebSocket, handler: Handler) -> None:
    assert ws.request is not None
    try:
        handler(ws.request, ws)
    except WebSocketError:
        pass
    except Exception:
        _log_failure("WebSocket handler failed")
        if not ws._answered:
            ws.reject(500)
        elif ws._close_code is None:
            ws.close(1011)  # no details on the wire
        return
    if not ws._answered:
        ws.reject(403)
    else:
        ws.close(1000)


def serve_connection(sock: socket.socket, handler: Handler, **options: Any) -> None:
    """Serve one accepted socket: read the upgrade request, then run the handler."""
    handshake_timeout = options.pop("handshake_timeout", 10.0)
    ws = WebSocket(sock, False, **options)
    try:
        events = ws._read_handshake(handshake_timeout)
    except RemoteProtocolError as exc:
        ws._send_bytes(ws._conn.send(closing(exc.event_hint)))  # 400, 405, 426 or 431
        ws._close_socket()
        return
    except OSError:  # includes TimeoutError: a client that never finished its request
        ws._close_socket()
        return
    for event in events:
        if isinstance(event, RequestEvent):
            ws.request = request_from_event(event)
    if ws.request is None:
        ws._close_socket()
        return
    _run_handler(ws, handler)


class Server:
    """A listening server: `port`, `serve_forever()`, `shutdown()`, and `with`.

    One thread per connection (daemon threads, tracked so shutdown() can close them).
    """

    def __init__(self, handler: Handler, host: str, port: int, options: Any) -> None:
        self._handler = handler
        self._options = options
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._running = False
        self._stopped = threading.Event()
        self._threads: "set[threading.Thread]" = set()
        self._sockets: "set[socket.socket]" = set()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port it listens on (useful after asking for port 0)."""
        return int(self._listener.getsockname()[1])

    def serve_forever(self) -> None:
        """Accept connections until shutdown() is called (from another thread)."""
        self._running = True
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([self._listener, self._wake_r], [], [])
                if self._listener in ready and not self._stopping.is_set():
                    try:
                        sock, _addr = self._listener.accept()
                    except OSError:
                        continue
                    self._start(sock)
        finally:
            self._stopped.set()

    def _start(self, sock: socket.socket) -> None:
        def run() -> None:
            try:
                serve_connection(sock, self._handler, **dict(self._options))
            finally:
                with self._lock:
                    self._threads.discard(thread)
                    self._sockets.discard(sock)

        thread = threading.Thread(target=run, name="wsproto_lite connection", daemon=True)
        with self._lock:
            self._threads.add(thread)
            self._sockets.add(sock)
        thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, close open connections (their receive() raises), join threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._running:
            self._stopped.wait(timeout)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def serve(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    handshake_timeout: float = 10.0,
    close_timeout: float = 10.0,
    send_timeout: Optional[float] = 30.0,
    max_message_length: Optional[int] = None,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = 20.0,
    compression: Any = "deflate",
) -> Server:
    """Listen for WebSocket connections and run `handler(request, ws)` in a thread each.

    Same handler semantics as transports.asyncio.serve, `compression` included. Call
    serve_forever() (blocking), or run it in a thread and call shutdown() from another.
    """
    check_compression(compression)
    if max_message_length is not None:
        message_limit(max_message_length)  # a bad value raises here, not per connection
    return Server(
        handler,
        host,
        port,
        {
            "handshake_timeout": handshake_timeout,
            "close_timeout": close_timeout,
            "send_timeout": send_timeout,
            "max_message_length": max_message_length,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "compression": compression,
        },
    )


def connect(
    url: str,
    *,
    subprotocols: Optional[List[str]] = None,
    headers: Optional[HeaderPairs] = None,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    send_timeout: Optional[float] = 30.0,
    max_message_length: Optional[int] = None,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = 20.0,
    sock: Optional[socket.socket] = None,
    compression: Any = "deflate",
) -> WebSocket:
    """Open a WebSocket connection to a ws:// URL; use it as a context manager.

    Raises WebSocketResponseError when the server answers with an HTTP response,
    WebSocketError for a bad or timed-out handshake, OSError when connecting fails.
    wss:// needs `sock` already wrapped by the caller's ssl context. `compression`:
    "deflate" (the default) offers permessage-deflate, None offers nothing, a
    PerMessageDeflate offers its terms.
    """
    check_compression(compression)
    secure, host, port, target = parse_url(url)
    if max_message_length is not None:
        message_limit(max_message_length)  # a bad value raises before a socket exists
    if sock is None:
        if secure:
            raise ValueError("wss:// needs a socket wrapped with TLS (pass sock=)")
        sock = socket.create_connection((host, port), timeout=open_timeout)
    ws = WebSocket(
        sock,
        True,
        close_timeout=close_timeout,
        send_timeout=send_timeout,
        max_message_length=max_message_length,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    event, ws.request = client_request(
        host, port, secure, target, subprotocols, headers, compression
    )
    reply = HandshakeReply()
    try:
        ws._send_bytes(ws._conn.send(event))
        deadline = time.monotonic() + open_timeout
        while True:
            events = ws._read_handshake(max(0.0, deadline - time.monotonic()))
            if not events:
                raise WebSocketError(1006, "connection closed in the handshake")
            accepted = reply.take(events)
            if accepted is not None:
                ws.subprotocol = accepted.subprotocol
                ws._opened()
                return ws
    except RemoteProtocolError as exc:
        ws._close_socket()
        raise WebSocketError(1006, "bad handshake: %s" % describe(exc)) from None
    except TimeoutError:
        ws._close_socket()
        raise WebSocketError(1006, "opening handshake timed out") from None
    except BaseException:
        ws._close_socket()
        raise


def websocket_upgrade(request: Any, subprotocol: Optional[str] = None, **options: Any) -> WebSocket:
    """Upgrade a request that a thread-based framework parsed; return the accepted WebSocket.

    `request` needs `method`, `path` (with `query` or `query_string`), `headers` (a
    mapping or pairs) and the connection's socket as `request.sock` (or
    `request.socket`). Raises WebSocketError after answering a bad request.
    """
    sock = getattr(request, "sock", None) or request.socket
    ws = WebSocket(sock, False, **options)
    raw = request.headers
    pairs = list(raw.items()) if hasattr(raw, "items") else list(raw)
    try:
        ws._conn.initiate_upgrade_connection(pairs, framework_target(request))
    except RemoteProtocolError as exc:
        ws._send_bytes(ws._conn.send(closing(exc.event_hint)))
        raise WebSocketError(1006, "not a WebSocket upgrade: %s" % describe(exc)) from None
    for event in ws._conn.events():
        if isinstance(event, RequestEvent):
            ws.request = request_from_event(event)
    ws.accept(subprotocol)
    return ws


def with_websocket(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a route `handler(request, ws, ...)`: upgrade, run it, then close."""

    def route(request: Any, *args: Any, **kwargs: Any) -> Any:
        ws = websocket_upgrade(request)
        try:
            result = handler(request, ws, *args, **kwargs)
        except Exception:
            ws.close(1011)  # no details on the wire; the framework sees the exception
            raise
        ws.close()
        return result

    return route
