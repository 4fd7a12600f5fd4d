"""Shared pieces of the blocking transport tests: servers in threads, raw-socket peers, guards.

Every wait is bounded: sockets read with a GUARD timeout, threads are joined with one, queues
are read with one. A guard that runs out fails the test; nothing here paces a test with sleep.

Peers that run in a thread (our blocking server, the websockets sync server, our asyncio
server on its own event loop, a raw TCP server) are context managers: leaving the block stops
the server and joins its thread, re-raising whatever the thread raised.

Raw peers speak bytes written by hand (asyncio_helpers builds them, independently of the code
under test): the RFC 6455 §1.3 example key and accept value, frames masked with MASK.
"""

import asyncio
import contextlib
import queue
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Set, Tuple

from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

from transports import asyncio as aio
from transports.blocking import Request, Server, WebSocket, serve

from .asyncio_helpers import (
    ACCEPT,
    BINARY,
    CLOSE,
    CONT,
    KEY,
    MASK,
    PING,
    PONG,
    TEXT,
    _mask,
    accept_value,
    close_payload,
    frame,
    pattern,
    upgrade_request,
)

__all__ = [
    "ACCEPT",
    "BINARY",
    "CLOSE",
    "CONT",
    "GUARD",
    "KEY",
    "MASK",
    "PING",
    "PONG",
    "TEXT",
    "RawPeer",
    "Worker",
    "asyncio_server",
    "blocking_server",
    "close_payload",
    "frame",
    "http_exchange",
    "new_threads_end",
    "pattern",
    "raw_server",
    "running",
    "their_client",
    "upgrade_request",
    "url",
    "websockets_server",
]

GUARD = 5.0  # seconds: a guard that fails the test, never a pace


def url(port: int, target: str = "/") -> str:
    return "ws://127.0.0.1:%d%s" % (port, target)


# -- echo handlers ---------------------------------------------------------------------------


def echo(request: Request, ws: WebSocket) -> None:
    """Our blocking server's echo handler."""
    for message in ws:
        ws.send(message)


async def async_echo(request: aio.Request, ws: aio.WebSocket) -> None:
    """Our asyncio server's echo handler."""
    async for message in ws:
        await ws.send(message)


def their_echo(ws: ServerConnection) -> None:
    """websockets' sync server echo handler."""
    for message in ws:
        ws.send(message)


# -- threads -------------------------------------------------------------------------------


class Worker:
    """fn(*args) in a thread of its own; result() joins it (guarded), returns or re-raises."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "test worker") -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(fn, args), name=name)
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self, timeout: float = GUARD) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "%s still running after %s s" % (self.thread, timeout)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float = GUARD) -> Optional[BaseException]:
        """Join (guarded) and return what the function raised, or None."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "%s still running after %s s" % (self.thread, timeout)
        return self._error


def new_threads_end(before: Set[threading.Thread], timeout: float = GUARD) -> None:
    """Join every thread started since `before` was taken; fail if one is still running."""
    deadline = time.monotonic() + timeout
    left = [t for t in threading.enumerate() if t not in before]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in left if t.is_alive()]
    assert not alive, "threads still running after the test: %r" % (alive,)


# -- servers in a thread -------------------------------------------------------------------


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Run server.serve_forever() in a thread; on exit shutdown() and join it."""
    worker = Worker(server.serve_forever, name="serve_forever")
    try:
        yield server
    finally:
        server.shutdown()
        worker.result()


@contextlib.contextmanager
def blocking_server(handler: Callable[..., Any], **options: Any) -> Iterator[Server]:
    """Our blocking server on a free loopback port, serving in a thread."""
    with running(serve(handler, "127.0.0.1", 0, **options)) as server:
        yield server


@contextlib.contextmanager
def asyncio_server(handler: Callable[..., Any], **options: Any) -> Iterator[int]:
    """transports.asyncio.serve() on its own event loop in a thread; yields the port."""
    started: "queue.Queue[Any]" = queue.Queue()

    async def main() -> None:
        try:
            async with aio.serve(handler, "127.0.0.1", 0, **options) as server:
                stop = asyncio.Event()
                started.put((server.port, asyncio.get_running_loop(), stop))
                await stop.wait()
        except BaseException as exc:
            started.put(exc)
            raise

    worker = Worker(asyncio.run, main(), name="asyncio server")
    got = started.get(timeout=GUARD)
    if isinstance(got, BaseException):
        worker.exception()
        raise got
    port, loop, stop = got
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        worker.result()


@contextlib.contextmanager
def websockets_server(handler: Callable[..., Any], **kwargs: Any) -> Iterator[int]:
    """websockets.sync.server.serve() in a thread; yields the port. No pings unless asked."""
    kwargs.setdefault("ping_interval", None)
    server = ws_serve(handler, "127.0.0.1", 0, **kwargs)
    worker = Worker(server.serve_forever, name="websockets serve_forever")
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()
        worker.result()


def their_client(port: int, target: str = "/", **kwargs: Any) -> Any:
    """A websockets sync client: no proxy from the environment, no pings unless asked."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("open_timeout", GUARD)
    kwargs.setdefault("close_timeout", GUARD)
    return ws_connect(url(port, target), proxy=None, **kwargs)


# -- raw peers -----------------------------------------------------------------------------


class RawPeer:
    """One end of a TCP connection that speaks hand-written bytes; every read is guarded."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(GUARD)
        self.sock = sock
        self._buffer = bytearray()

    @classmethod
    def connect(cls, port: int, rcvbuf: Optional[int] = None) -> "RawPeer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:  # before connecting, so the window starts (and stays) small
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(GUARD)
            sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def __enter__(self) -> "RawPeer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buffer += data
        return bool(data)

    def read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not self._fill():
                raise EOFError("EOF after %d of %d bytes" % (len(self._buffer), n))
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_until(self, separator: bytes) -> bytes:
        while separator not in self._buffer:
            if not self._fill():
                raise EOFError("EOF before %r: %r" % (separator, bytes(self._buffer[:200])))
        end = self._buffer.index(separator) + len(separator)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def read_eof(self) -> bytes:
        """Read until the other end closes TCP (a reset counts); returns what came first."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def read_frame(self, masked: bool = False) -> Tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next frame; a client's (masked=True) is unmasked."""
        b0, b1 = self.read_exactly(2)
        assert b0 & 0x70 == 0, "RSV bits set: %#x" % b0
        assert bool(b1 & 0x80) == masked, "mask bit %d, expected %d" % (b1 >> 7, masked)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.read_exactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.read_exactly(8))
        key = self.read_exactly(4) if masked else b""
        payload = self.read_exactly(n)
        if masked:
            payload = _mask(payload, key)
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def read_close(self, masked: bool = False) -> Tuple[int, str]:
        """The close frame that must come next: (code, reason)."""
        fin, opcode, payload = self.read_frame(masked)
        assert (fin, opcode) == (True, CLOSE), (fin, opcode, payload)
        assert len(payload) >= 2, payload
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8")

    # a raw client

    def handshake(self, path: bytes = b"/", extra: bytes = b"", then: bytes = b"") -> bytes:
        """Send the upgrade request (and `then` in the same write); return the 101 head."""
        self.send(upgrade_request(path, extra) + then)
        head = self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"\r\nSec-WebSocket-Accept: " + ACCEPT + b"\r\n" in head, head
        return head

    # a raw server

    def accept_upgrade(self, extra: bytes = b"") -> bytes:
        """Read a client's upgrade request and answer 101 (plus `extra` header lines) by hand.

        Returns the request head.
        """
        head = self.read_until(b"\r\n\r\n")
        key = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        assert key, head
        self.send(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_value(key) + b"\r\n" + extra + b"\r\n"
        )
        return head


def http_exchange(port: int, request: bytes) -> Tuple[int, bytes, bytes]:
    """Send raw bytes, read until EOF; (status, head, body) of the HTTP response."""
    with RawPeer.connect(port) as peer:
        peer.send(request)
        response = peer.read_eof()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), response[:200]
    return int(head[9:12]), head, body


@contextlib.contextmanager
def raw_server(session: Callable[[RawPeer], Any], connections: int = 1) -> Iterator[int]:
    """A loopback TCP server whose thread runs session(peer) for each of `connections`.

    Yields the port. On exit waits (guarded) for the sessions to end, closes their sockets
    and the listener, and re-raises what a session raised (its assertions fail the test).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(GUARD)
    peers: List[RawPeer] = []

    def serve_all() -> None:
        for _ in range(connections):
            sock, _addr = listener.accept()
            peer = RawPeer(sock)
            peers.append(peer)
            session(peer)

    try:
        worker = Worker(serve_all, name="raw server")
        try:
            yield listener.getsockname()[1]
        finally:
            worker.exception(2 * GUARD)
            for peer in peers:
                peer.close()
        worker.result(0)
    finally:
        listener.close()
