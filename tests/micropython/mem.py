"""Memory measurements on MicroPython; mem.mjs loads this into the WebAssembly build.

mem.mjs calls these functions from JavaScript, one step at a time, and reads the heap
between the steps. This module holds the state of one scenario in globals so that
nothing but those globals keeps it alive.

Why steps: in the WebAssembly build gc.collect() only marks a collection as due; the
collection runs when control returns to JavaScript, with no Python frame on the
stack. So collect() and alloc() are separate calls from JavaScript, and inside a call
(or an asyncio turn) nothing is freed: gc.mem_alloc() growth within one turn is
every byte allocated in that turn.

Both libraries are measured with the same objects around them: a request object
shaped like Microdot's (the framework parsed the HTTP head before the upgrade) and
in-memory streams that behave, allocation-wise, like MicroPython's asyncio Stream
over a socket (a read returns a new bytes object of what arrived; readexactly
concatenates its reads as Stream.readexactly does). Only what a library allocates
itself shows up in the figures.
"""

import asyncio
import binascii
import gc
import sys

from sha1_shim import install_sha1

SEGMENT = 1460  # bytes per TCP segment (Ethernet MSS) when data arrives in pieces
MASK_KEY = b"\x37\xfa\x21\x3d"

# -- the heap ------------------------------------------------------------------------


def version():
    return "%d.%d.%d" % sys.implementation.version[:3]


def collect():
    """Mark a collection as due; it runs when this call returns to JavaScript."""
    gc.collect()


def alloc():
    """Bytes of heap in use (read in a call after collect() for live data only)."""
    return gc.mem_alloc()


class Meter:
    """The highest gc.mem_alloc() seen at the sampling points of one measurement."""

    peak = 0

    @staticmethod
    def sample():
        n = gc.mem_alloc()
        if n > Meter.peak:
            Meter.peak = n


def peak():
    return Meter.peak


class Job:
    done = True
    error = None
    task = None


async def _job(coro):
    try:
        await coro
    except BaseException as exc:  # reported to JavaScript by finished()
        sys.print_exception(exc)
        Job.error = repr(exc)
    Job.done = True
    Job.task = None


def start(name, *args):
    """Run mem.<name>(*args) as an asyncio task; JavaScript polls finished().

    JavaScript does not await a coroutine here: a coroutine proxied to JavaScript stays
    referenced (with its finished frame's stale locals) until JavaScript's own GC
    finalises the proxy, which would keep measured objects alive.
    """
    Job.done = False
    Job.error = None
    Job.task = asyncio.create_task(_job(globals()[name](*args)))


def finished():
    if Job.error is not None:
        raise RuntimeError(Job.error)
    return Job.done


# -- in-memory streams ---------------------------------------------------------------


async def _back_to_javascript():
    # Wait for a JavaScript promise: it settles only after control has gone back to
    # JavaScript, where the collection marked as due runs (a short sleep_ms() could
    # expire before the loop returns, and then no collection would run in between).
    import js

    await js.Promise.resolve(None)


class Wire:
    """One direction of a connection: queued segments, read as a socket reads them.

    read(n) returns a new bytes object, as a socket read does. Segments that have been
    read stay referenced until clear(): on a board they live in the network stack, not
    in the Python heap, so freeing them must not show up as the library using less.

    With `turns` set, each read first ends the asyncio turn and hands control back to
    JavaScript, where the collection asked for just before runs: data arriving
    segment by segment, with the GC free to run between segments. The heap in use is
    sampled just before each such pause, with all that the turn allocated still in it.
    """

    def __init__(self):
        self.segments = []
        self.index = 0  # segments before it have been read
        self.offset = 0  # bytes read of segments[index]
        self.closed = False
        self.event = asyncio.Event()
        self.turns = False

    def push(self, data, segment=0):
        if segment:
            for i in range(0, len(data), segment):
                self.segments.append(data[i : i + segment])
        else:
            self.segments.append(data)
        self.event.set()

    def pending(self):
        return self.index < len(self.segments)

    def end(self):
        self.closed = True
        self.event.set()

    async def read(self, n=-1):
        while not self.pending() and not self.closed:
            self.event.clear()
            await self.event.wait()
        if self.turns:
            Meter.sample()
            gc.collect()
            await _back_to_javascript()
        if not self.pending():
            return b""
        if self.turns:
            seg = self.segments[self.index]
            take = len(seg) - self.offset
            if 0 <= n < take:
                take = n
            data = seg[self.offset : self.offset + take]
            self._advance(take)
            return data
        # Everything queued has arrived: one read takes up to n bytes across segments.
        parts = []
        want = n if n >= 0 else 1 << 30
        while want and self.pending():
            seg = self.segments[self.index]
            take = min(len(seg) - self.offset, want)
            parts.append(seg[self.offset : self.offset + take])
            self._advance(take)
            want -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _advance(self, n):
        self.offset += n
        if self.offset == len(self.segments[self.index]):
            self.index += 1
            self.offset = 0

    def take_all(self):
        """Everything not read yet, as one bytes object; then forget all segments."""
        data = b"".join([bytes(s) for s in self.segments[self.index :]])[self.offset :]
        self.clear()
        return data

    def clear(self):
        self.segments = []
        self.index = 0
        self.offset = 0


class Stream:
    """A server's end: the methods of MicroPython's asyncio Stream that both libraries use."""

    def __init__(self, incoming, outgoing):
        self.incoming = incoming
        self.outgoing = outgoing

    async def read(self, n=-1):
        return await self.incoming.read(n)

    async def readexactly(self, n):
        # As MicroPython's Stream.readexactly: read what is there, concatenate, repeat.
        got = b""
        while n:
            part = await self.incoming.read(n)
            if not part:
                raise EOFError
            got += part
            n -= len(part)
        return got

    def write(self, data):
        # A socket copies the data into the network stack: keep nothing of the caller's.
        self.outgoing.push(bytes(data))

    async def drain(self):
        pass

    async def awrite(self, data):
        self.write(data)

    def close(self):
        self.outgoing.end()

    async def wait_closed(self):
        pass


class Request:
    """What Microdot's Request carries that a WebSocket upgrade reads or calls."""

    def __init__(self, path, headers, sock):
        self.method = "GET"
        self.url = path
        self.path = path
        self.query_string = None
        self.headers = headers
        self.sock = sock
        self.app = None
        self.after_request_handlers = []

    def after_request(self, f):
        self.after_request_handlers.append(f)
        return f


def new_key(i):
    return binascii.b2a_base64(bytes([i & 255, i >> 8]) + b"fixed-key-part").strip().decode()


def microdot_headers(key):
    return {
        "Host": "board.local",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }


def request_bytes(key):
    return (
        "GET /ws HTTP/1.1\r\nHost: board.local\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key
    ).encode()


def masked_frame(opcode, payload):
    """A client frame (FIN, masked with MASK_KEY): written here, independent of both libraries."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126, n >> 8, n & 255])
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    body = bytearray(payload)
    for i in range(n):
        body[i] ^= MASK_KEY[i & 3]
    return head + MASK_KEY + bytes(body)


def server_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, n]) + payload
    return bytes([0x80 | opcode, 126, n >> 8, n & 255]) + payload


# -- the libraries -------------------------------------------------------------------


class Lib:
    """One library's upgrade function and route decorator."""

    name = ""
    upgrade = None
    with_websocket = None
    serve_connection = None


def use(name):
    """Import a library's WebSocket module (the import cost is measured separately)."""
    Lib.name = name
    if name == "wsproto_lite":
        from transports import uasyncio

        Lib.upgrade = uasyncio.websocket_upgrade
        Lib.with_websocket = uasyncio.with_websocket
        Lib.serve_connection = uasyncio.serve_connection
    elif name == "microdot":
        install_sha1()
        from microdot import websocket

        Lib.upgrade = websocket.websocket_upgrade
        Lib.with_websocket = websocket.with_websocket
        Lib.serve_connection = None
    else:
        raise ValueError(name)


async def echo(request, ws):
    while True:
        await ws.send(await ws.receive())


# -- import cost ---------------------------------------------------------------------

IMPORTS = {
    "core": (
        "wsproto_lite",
        "wsproto_lite.connection",
        "wsproto_lite.handshake",
        "wsproto_lite.frames",
        "wsproto_lite.events",
    ),
    "uasyncio": ("transports.uasyncio",),
    "microdot": ("microdot",),
    "microdot.websocket": ("microdot.websocket",),
}


def baseline_imports(sha1_shim=False):
    """What both sides import anyway: asyncio (and the sha1 stand-in for Microdot)."""
    import asyncio  # noqa: F401  (the already-imported module; asyncio is frozen)

    if sha1_shim:
        install_sha1()


def do_import(group):
    """Import a group of modules; return the heap in use before any collection."""
    for name in IMPORTS[group]:
        __import__(name)
    return gc.mem_alloc()


# -- per-connection cost -------------------------------------------------------------


class State:
    conns = None  # [(request, server Stream, client->server Wire, server->client Wire)]
    keep = None  # what a scenario keeps alive: WebSockets or tasks
    ping = b""
    pong = b""
    message = None
    expected = b""


def prepare(n, mode):
    """Build n connections' streams (and requests) before the baseline."""
    State.conns = []
    State.keep = []
    for i in range(n):
        c2s, s2c = Wire(), Wire()
        stream = Stream(c2s, s2c)
        key = new_key(i)
        if mode == "serve":
            c2s.push(request_bytes(key))
            request = None
        else:
            request = Request("/ws", microdot_headers(key), (stream, stream))
        State.conns.append((request, stream, c2s, s2c))
    payload = bytes(range(64))
    State.ping = masked_frame(2, payload)
    State.pong = server_frame(2, payload)


async def open_all(mode):
    """Upgrade every prepared connection; check each 101 and drop it."""
    for request, stream, _, _ in State.conns:
        if mode == "objects":
            State.keep.append(await Lib.upgrade(request))
        elif mode == "tasks":
            State.keep.append(asyncio.create_task(Lib.with_websocket(echo)(request)))
        elif mode == "serve":
            State.keep.append(asyncio.create_task(Lib.serve_connection(stream, stream, echo)))
    for _ in range(100):
        if all(s2c.pending() for _, _, _, s2c in State.conns):
            break
        await asyncio.sleep_ms(0)
    for _, _, _, s2c in State.conns:
        reply = s2c.take_all()
        if not reply.startswith(b"HTTP/1.1 101"):
            raise AssertionError("no 101: %r" % reply[:40])
    await asyncio.sleep_ms(0)  # let every handler reach its first read


async def echo_all(mode):
    """One 64-byte binary message through every connection."""
    for i in range(len(State.conns)):
        _, _, c2s, s2c = State.conns[i]
        c2s.push(State.ping)
        if mode == "objects":
            ws = State.keep[i]
            await ws.send(await ws.receive())
    for _ in range(100):
        if all(s2c.pending() for _, _, _, s2c in State.conns):
            break
        await asyncio.sleep_ms(0)
    for _, _, _, s2c in State.conns:
        reply = s2c.take_all()
        if reply != State.pong:
            raise AssertionError("echo: %r" % reply[:40])
    await asyncio.sleep_ms(0)


# -- receiving one big message -------------------------------------------------------


async def prepare_receive(size, text, segmented):
    """One open connection and a client frame of `size` bytes waiting to be read."""
    prepare(1, "objects")
    await open_all("objects")
    if text:
        payload = ("0123456789abcdef" * (size // 16 + 1))[:size].encode()
    else:
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    State.expected = payload.decode() if text else payload
    _, _, c2s, _ = State.conns[0]
    # Warm-up: a small message of the same type first, arriving the same way and in as
    # many pieces (first-use costs, and the growth of the JavaScript bridge's tables
    # that each pause costs, are not charged to the measured message).
    # (2-byte pieces: Microdot reads a frame header with one read(2), so a header split
    # across two reads makes it drop the connection.)
    c2s.turns = segmented
    pieces = (size + 8) // SEGMENT + 2
    c2s.push(masked_frame(1 if text else 2, payload[: 2 * pieces]), 2 if segmented else 0)
    await State.keep[0].receive()
    c2s.push(masked_frame(1 if text else 2, payload), SEGMENT if segmented else 0)
    c2s.turns = segmented


async def receive_one():
    """receive() the waiting message; keep it; sample the heap when it returns."""
    Meter.peak = 0
    State.message = await State.keep[0].receive()
    Meter.sample()
    if State.message != State.expected:
        raise AssertionError("received %d of %d" % (len(State.message), len(State.expected)))
    State.conns[0][2].turns = False


def drop_message():
    State.message = None


def reset():
    State.conns = []
    State.keep = []
    State.message = None
    State.expected = b""
