"""Shared pieces of the asyncio transport tests: a strict runner, raw-socket peers, peer servers.

Every test is a plain function decorated with @async_test: it runs in a fresh event loop in
debug mode, fails if a task is still pending when the body returns, and fails if the loop
reported any error (an exception nobody retrieved, a task destroyed while pending). Unclosed
sockets and transports are caught by ResourceWarning being an error (pyproject's
filterwarnings) and a gc.collect() right after the loop closes.

Raw peers speak bytes written by hand: the RFC 6455 §1.3 example key and accept value, and
masked frames built here (independently of the code under test).
"""

import asyncio
import base64
import contextlib
import functools
import gc
import hashlib
import socket
import struct
from typing import Any, AsyncIterator, Awaitable, Callable, List, Optional, Set, Tuple, Union

import wsproto
import wsproto.events as wse

# RFC 6455 §1.3: this key is answered with this accept value.
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455 §5.7's mask key; never all zero, so unmasked bytes cannot pass for masked ones.
MASK = b"\x37\xfa\x21\x3d"
GUARD = 5.0  # seconds: a guard that fails the test, never a pace

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def async_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body in a fresh debug-mode loop; fail on leaked tasks or loop errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        errors: List[dict] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: errors.append(context))
            await asyncio.wait_for(fn(*args, **kwargs), 30)
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not pending, "tasks still pending after the test: %r" % (pending,)

        asyncio.run(main(), debug=True)
        gc.collect()  # unclosed transports and sockets warn (an error here) from __del__
        assert not errors, "the event loop reported errors: %r" % (
            [(e.get("message"), e.get("exception")) for e in errors],
        )

    return wrapper


async def guard(awaitable: Awaitable[Any], timeout: float = GUARD) -> Any:
    """Await with a timeout that fails the test (never used to pace it)."""
    return await asyncio.wait_for(awaitable, timeout)


# -- hand-written bytes ----------------------------------------------------------------------


def upgrade_request(
    path: bytes = b"/",
    extra: bytes = b"",
    method: bytes = b"GET",
    version: bytes = b"13",
    key: bytes = KEY,
) -> bytes:
    """A client's upgrade request, byte for byte."""
    return (
        method + b" " + path + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n"
    )


def accept_value(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def _mask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def frame(
    opcode: int, payload: bytes = b"", fin: bool = True, mask: Optional[bytes] = MASK
) -> bytes:
    """One frame: FIN/opcode, the shortest length encoding, then the (masked) payload."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 1 << 16:
        head = bytes([first, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + _mask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


# -- a raw client: a plain TCP socket and hand-written frames --------------------------------


class RawClient:
    """A WebSocket client written by hand over a plain socket (asyncio streams for I/O)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, rcvbuf: Optional[int] = None) -> "RawClient":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if rcvbuf is not None:  # before connecting, so the window starts (and stays) small
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        return cls(reader, writer)

    async def __aenter__(self) -> "RawClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await guard(self.writer.wait_closed())

    async def handshake(self, path: bytes = b"/", extra: bytes = b"", then: bytes = b"") -> bytes:
        """Send the upgrade request (and `then` in the same write); return the 101 head."""
        self.writer.write(upgrade_request(path, extra) + then)
        head = await guard(self.reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"\r\nSec-WebSocket-Accept: " + ACCEPT + b"\r\n" in head, head
        return head

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await guard(self.writer.drain())

    async def read_frame(self) -> Tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the server's next frame, which must be unmasked."""
        b0, b1 = await guard(self.reader.readexactly(2))
        assert b0 & 0x70 == 0, "RSV bits set: %#x" % b0
        assert b1 & 0x80 == 0, "a server frame must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await guard(self.reader.readexactly(2)))
        elif n == 127:
            (n,) = struct.unpack("!Q", await guard(self.reader.readexactly(8)))
        payload = await guard(self.reader.readexactly(n)) if n else b""
        return bool(b0 & 0x80), b0 & 0x0F, payload

    async def read_close(self) -> Tuple[int, str]:
        """The close frame that must come next: (code, reason)."""
        fin, opcode, payload = await self.read_frame()
        assert (fin, opcode) == (True, CLOSE), (fin, opcode, payload)
        assert len(payload) >= 2, payload
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8")

    async def read_eof(self) -> bytes:
        """Read until the server closes TCP; returns whatever came before."""
        return await guard(self.reader.read())


async def http_exchange(port: int, request: bytes) -> Tuple[int, bytes, bytes]:
    """Send raw bytes, read until EOF; (status, head, body) of the HTTP response."""
    async with await RawClient.open(port) as client:
        await client.send(request)
        response = await client.read_eof()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), response[:200]
    return int(head[9:12]), head, body


# -- servers the tests run as peers ------------------------------------------------------------

Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def stream_server(session: Session, wait_closed: bool = True) -> AsyncIterator[int]:
    """asyncio.start_server on loopback running `session` per connection; yields the port.

    After each session its writer is closed (and, with `wait_closed`, waited on). On exit:
    stops listening and waits (guarded) for every session to end.
    """
    tasks: Set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await session(reader, writer)
        finally:
            writer.close()
            if wait_closed:
                with contextlib.suppress(ConnectionError):
                    await guard(writer.wait_closed())

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
        if tasks:
            await guard(asyncio.gather(*tasks))


async def raw_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """A hand-written server handshake: read the request, answer 101. Returns the head."""
    head = await guard(reader.readuntil(b"\r\n\r\n"))
    key = b""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    assert key, head
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_value(key) + b"\r\n\r\n"
    )
    await writer.drain()
    return head


async def read_client_frame(reader: asyncio.StreamReader) -> Tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of a client's frame, which must be masked."""
    b0, b1 = await guard(reader.readexactly(2))
    assert b1 & 0x80, "a client frame must be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await guard(reader.readexactly(2)))
    elif n == 127:
        (n,) = struct.unpack("!Q", await guard(reader.readexactly(8)))
    mask = await guard(reader.readexactly(4))
    payload = await guard(reader.readexactly(n)) if n else b""
    return bool(b0 & 0x80), b0 & 0x0F, _mask(payload, mask)


@contextlib.asynccontextmanager
async def wsproto_server(
    close_timeout: float = GUARD, closes: Optional[List[Tuple[int, str]]] = None
) -> AsyncIterator[int]:
    """A tiny asyncio echo server driving wsproto.WSConnection; yields the port.

    It accepts the first offered subprotocol and echoes whole messages, except text
    commands: "close CODE REASON" closes with that code, "ping PAYLOAD" sends a ping and
    answers "pong PAYLOAD" once the pong arrives. Pings are answered, closes echoed (and
    their (code, reason) appended to `closes`).
    """

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        parts: List[Union[str, bytes]] = []
        while conn.state is not wsproto.connection.ConnectionState.CLOSED:
            data = await guard(reader.read(1 << 16), close_timeout)
            conn.receive_data(data or None)
            for event in conn.events():
                if isinstance(event, wse.Request):
                    chosen = event.subprotocols[0] if event.subprotocols else None
                    writer.write(conn.send(wse.AcceptConnection(subprotocol=chosen)))
                elif isinstance(event, wse.Message):
                    parts.append(event.data)
                    if event.message_finished:
                        message = parts[0][:0].join(parts)  # type: ignore[attr-defined]
                        parts.clear()
                        writer.write(_wsproto_answer(conn, message))
                elif isinstance(event, wse.Ping):
                    writer.write(conn.send(event.response()))
                elif isinstance(event, wse.Pong):
                    reply = "pong " + event.payload.decode()
                    writer.write(conn.send(wse.TextMessage(data=reply)))
                elif isinstance(event, wse.CloseConnection):
                    if closes is not None:
                        closes.append((event.code, event.reason))
                    if conn.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                        writer.write(conn.send(event.response()))
            await writer.drain()
            if not data:
                break
        # The server closes TCP first (RFC 6455 §7.1.1): stream_server's exit does it.

    async with stream_server(session) as port:
        yield port


def _wsproto_answer(conn: wsproto.WSConnection, message: Union[str, bytes]) -> bytes:
    if isinstance(message, str) and message.startswith("close "):
        _, code, reason = message.split(" ", 2)
        return conn.send(wse.CloseConnection(code=int(code), reason=reason))
    if isinstance(message, str) and message.startswith("ping "):
        return conn.send(wse.Ping(payload=message[5:].encode()))
    if isinstance(message, str):
        return conn.send(wse.TextMessage(data=message))
    return conn.send(wse.BytesMessage(data=message))


def pattern(n: int, seed: int = 0) -> bytes:
    """n bytes that are not all alike, so a lost or reordered chunk changes the value.

    The seed leads (4 bytes), so different seeds give different values from n >= 4.
    """
    block = bytes((i * 7 + seed) % 251 for i in range(251))
    return (struct.pack("!I", seed) + block * (n // 251 + 1))[:n]
