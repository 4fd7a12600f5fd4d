"""The load generator of benchmarks/echo.py: one process, raw asyncio, pre-masked frames.

    python benchmarks/loadgen.py --port P [--ctl C] [--size 64] [--connections 1]
                                 [--window 1] [--warmup 0.5] [--duration 2] [--profile F]
                                 [--text] [--compression deflate]

Opens `--connections` WebSocket connections to an echo server on 127.0.0.1, checks on each
that a few messages come back byte for byte, then keeps `--window` binary messages of
`--size` bytes in flight on every connection: each echo that comes back sends the next
message. After `--warmup` seconds it times `--duration` seconds and prints one JSON line:
messages echoed in the window, their round-trip p50/p99 (send to echo received, so with
a window of 100 the time queued behind the other 99 counts), its own CPU time, and the
server's CPU time over the same window read from the server's control port (`--ctl`,
see echo_server.py). `--profile F` has the server cProfile that window into file F.

Kept cheap so it is not the bottleneck: one frame is built and masked once (fixed key)
and written as many times as needed in one write per read; echoes are parsed by header
only, m whole echoes in a read with one m-step slice per header byte (their payloads are
compared while connecting, not while timed); send and arrival times are kept per write
and per read, not per message. Nothing from wsproto_lite is used: frames come from
_harness.py.

`--text` sends JSON-like text messages (_harness.json_text), cycling through a pool of
distinct ones so a compressing server cannot find the whole message in its window.
`--compression deflate` (implies --text) offers permessage-deflate the way browsers and
websockets' client do (`permessage-deflate; client_max_window_bits`), fails unless the
server agrees, and sends every message compressed (RSV1). Each pool message is
compressed once, on its own, with a 12-bit window and memLevel 5 (websockets' client
settings, at most what any server here lets a client use): a valid message on a
context-takeover stream, whatever came before it, so the frames stay pre-built. Echoes
then differ in length (the server compresses with its own context), so they are parsed
frame by frame; the checked echoes are inflated and compared.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import sys
import time
import zlib
from collections import deque
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402

KEY = base64.b64encode(b"wsproto_lite-echo").decode()[:22] + "=="
ACCEPT = base64.b64encode(
    hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
)
CLOSE_1000 = h.build_frame(8, b"\x03\xe8", key=h.FIXED_KEY)
# A frame repeated k times is cached while k copies stay below this (small messages).
JOIN_CACHE_BYTES = 1 << 20
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
CLIENT_WINDOW_BITS = 12  # what the pre-compressed messages use; a server must allow it
POOL_BYTES = 1 << 20  # distinct text messages: up to 64, and about this many bytes


class EchoError(Exception):
    pass


class Load:
    """What every connection shares: the frame to send and the measurements."""

    def __init__(self, size: int, window: int, text: bool = False, deflate: bool = False) -> None:
        text = text or deflate
        self.deflate = deflate
        self.opcode = 1 if text else 2
        if text:
            count = max(2, min(64, POOL_BYTES // max(size, 1)))
            self.payloads = [h.json_text(size, seed=i).encode() for i in range(count)]
        else:
            self.payloads = [h.binary_payload(size)]
        self.payload = self.payloads[0]
        self.pool = [self._frame(p) for p in self.payloads]
        self.frame = self.pool[0]
        self.next = 0  # the pool message that goes next
        self.window = window
        self.extensions = ""  # the server's Sec-WebSocket-Extensions answer
        # The echo of the frame, unmasked: its length and header (a server sends exactly
        # this for every echo, so a read of m whole echoes is checked with m-step slices).
        # Compressed echoes vary in length: then every echo is parsed by its header.
        echo = h.build_frame(self.opcode, b"\0" * size)
        self.echo_len = 0 if deflate else len(echo)
        self.echo_head = echo[: len(echo) - size]
        self.sending = False
        self.received = 0
        # Round trips as (seconds, how many messages took that long): the messages of one
        # write share a send time and those of one read an arrival time.
        self.latencies: List[float] = []
        self.weights: List[int] = []
        self.joined: Dict[int, bytes] = {}
        if len(self.pool) == 1 and len(self.frame) * window <= JOIN_CACHE_BYTES:
            self.joined = {k: self.frame * k for k in range(1, window + 1)}
        # Enough pool copies in a row that any k <= window frames are one slice.
        self.cycle = self.pool * (1 + (window + len(self.pool) - 1) // len(self.pool))

    def _frame(self, payload: bytes) -> bytes:
        if not self.deflate:
            return h.build_frame(self.opcode, payload, key=h.FIXED_KEY)
        body = h.deflate_message(h.raw_compressor(CLIENT_WINDOW_BITS, 5), payload)
        return h.build_frame(self.opcode, body, key=h.FIXED_KEY, rsv1=True)

    def frames(self, k: int) -> bytes:
        if len(self.pool) > 1:
            start = self.next
            self.next = (start + k) % len(self.pool)
            return b"".join(self.cycle[start : start + k])
        data = self.joined.get(k)
        return data if data is not None else self.frame * k

    def check_extensions(self, answer: str) -> "Optional[str]":
        """Why the server's extension answer does not fit what is sent, or None."""
        if not self.deflate:
            return "an extension nobody offered: %r" % answer if answer else None
        if not answer.strip().startswith("permessage-deflate"):
            return "permessage-deflate offered, not agreed (%r)" % answer
        for param in answer.split(";")[1:]:
            name, _, value = param.partition("=")
            if (
                name.strip() == "client_max_window_bits"
                and int(value.strip().strip('"')) < CLIENT_WINDOW_BITS
            ):
                return "client window limited below %d bits: %r" % (CLIENT_WINDOW_BITS, answer)
        self.extensions = answer.strip()
        return None


class Client(asyncio.Protocol):
    """One connection: HTTP upgrade, a checked echo of `verify` messages, then the run."""

    def __init__(self, load: Load, host: str, port: int, verify: int) -> None:
        self.load = load
        offer = "Sec-WebSocket-Extensions: %s\r\n" % DEFLATE_OFFER if load.deflate else ""
        self.request = (
            "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (host, port, KEY, offer)
        ).encode()
        self.verify = verify
        self.upgraded = False  # the 101 arrived and was checked
        self.checked = 0  # echoes compared so far
        self.running = False  # the fast path: after the handshake and the checked echoes
        self.slow = b""  # bytes of the handshake / checked phase
        self.partial = b""  # the start of a frame header cut by a read
        self.skip = 0  # payload bytes of the current frame still to come
        self.fin_pending = False  # the frame being skipped ends a message
        # [send time, messages] of every write whose messages are not all echoed yet.
        self.sent: deque[List[Any]] = deque()
        self.in_flight = 0
        self.transport: Optional[asyncio.Transport] = None
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()  # handshake and checks done
        self.idle: Optional[asyncio.Future[None]] = None  # nothing in flight any more
        self.lost = loop.create_future()
        self.closed_by_server = False
        # Checked echoes of a compressing server: inflated with its context, in order.
        self.inflater: Any = zlib.decompressobj(-15) if load.deflate else None

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._fail(EchoError("connection lost: %r" % (exc,)))

    def data_received(self, data: bytes) -> None:
        if not self.running:
            self._slow_path(data)
            return
        if self.partial:
            data = self.partial + data
            self.partial = b""
        n = len(data)
        pos = self.skip
        done = 0
        if pos:
            if pos > n:
                self.skip = pos - n
                return
            self.skip = 0
            if self.fin_pending:
                done = 1
        # The common case in C speed: m whole echoes in a row. Each header byte is read
        # with one m-step slice; matching headers at every step are m expected frames.
        size = self.load.echo_len
        m = (n - pos) // size if size else 0
        if m:
            stop = pos + m * size
            for j, byte in enumerate(self.load.echo_head):
                if data[pos + j : stop : size] != bytes((byte,)) * m:
                    break
            else:
                pos = stop
                done += m
        while pos < n:  # anything else, frame by frame: a cut frame, a control frame
            if pos + 2 > n:
                self.partial = data[pos:]
                break
            b0 = data[pos]
            length = data[pos + 1]
            if length < 126:
                head = 2
            elif length == 126:
                if pos + 4 > n:
                    self.partial = data[pos:]
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            else:  # 127, or a masked frame (>= 128), which a server must not send
                if length != 127:
                    raise EchoError("the server sent a masked frame")
                if pos + 10 > n:
                    self.partial = data[pos:]
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if b0 & 0x0F >= 8:  # a control frame: needs its payload
                if end > n:
                    self.partial = data[pos:]
                    break
                self._control(b0 & 0x0F, data[pos + head : end])
                pos = end
                continue
            if end > n:
                self.skip = end - n
                self.fin_pending = bool(b0 & 0x80)
                break
            pos = end
            if b0 & 0x80:
                done += 1
        if done:
            self._echoed(done)

    # -- internals --------------------------------------------------------------------------

    def _echoed(self, k: int) -> None:
        load = self.load
        load.received += k
        self._consume(k)
        if load.sending:
            self.send(k)
        elif not self.in_flight and self.idle is not None and not self.idle.done():
            self.idle.set_result(None)

    def _consume(self, k: int) -> None:
        # k messages came back, the oldest in flight: record their round trips.
        now = time.perf_counter()
        load = self.load
        sent = self.sent
        self.in_flight -= k
        while k:
            batch = sent[0]
            take = batch[1] if batch[1] <= k else k
            load.latencies.append(now - batch[0])
            load.weights.append(take)
            k -= take
            batch[1] -= take
            if not batch[1]:
                sent.popleft()

    def send(self, k: int) -> None:
        """Put k more messages in flight."""
        self.sent.append([time.perf_counter(), k])
        self.in_flight += k
        self.transport.write(self.load.frames(k))  # type: ignore[union-attr]

    async def wait_idle(self) -> None:
        if self.in_flight:
            self.idle = asyncio.get_running_loop().create_future()
            await self.idle

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == 9:  # ping: answer
            self.transport.write(h.build_frame(10, payload, key=h.FIXED_KEY))  # type: ignore[union-attr]
        elif opcode == 8:
            self.closed_by_server = True

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.idle is not None and not self.idle.done():
            self.idle.set_exception(exc)

    def _send_checked(self, count: int) -> None:
        # The checked messages: the pool's first `count`, in order (not load.next's turn).
        pool = self.load.pool
        self.sent.append([time.perf_counter(), count])
        self.in_flight += count
        self.transport.write(b"".join(pool[i % len(pool)] for i in range(count)))  # type: ignore[union-attr]

    def _slow_path(self, data: bytes) -> None:
        # The handshake, then `verify` messages parsed in full and compared.
        buf = self.slow + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.slow = buf
                return
            head, buf = buf[: end + 4], buf[end + 4 :]
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self._fail(EchoError("no upgrade: %r" % head[:200]))
                return
            accept = b""
            extensions = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-accept":
                    accept = value.strip()
                elif name.strip().lower() == b"sec-websocket-extensions":
                    extensions = value.strip()
            if accept != ACCEPT:
                self._fail(EchoError("bad Sec-WebSocket-Accept %r" % accept))
                return
            why = self.load.check_extensions(extensions.decode("latin-1"))
            if why is not None:
                self._fail(EchoError(why))
                return
            self.upgraded = True
            if self.verify:
                self._send_checked(self.verify)
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    break
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            if b1 & 0x80:
                self._fail(EchoError("the server sent a masked frame"))
                return
            if len(buf) < pos + length:
                break
            payload, buf = buf[pos : pos + length], buf[pos + length :]
            opcode = b0 & 0x0F
            if opcode >= 8:
                self._control(opcode, payload)
                continue
            if b0 & 0x40 and self.inflater is not None:
                payload = self.inflater.decompress(payload + h.DEFLATE_TAIL)
            pool = self.load.payloads
            want = pool[self.checked % len(pool)]
            if opcode != self.load.opcode or not b0 & 0x80 or payload != want:
                self._fail(EchoError("echo differs: opcode %d, %d bytes" % (opcode, length)))
                return
            self._consume(1)
            self.checked += 1
        self.slow = buf
        if self.checked == self.verify and not self.ready.done():
            if buf:
                self._fail(EchoError("unexpected bytes after the checked echoes"))
                return
            self.inflater = None  # echoes are counted from here on, not inflated
            self.running = True
            self.ready.set_result(None)

    async def close(self, timeout: float = 2.0) -> None:
        """Close handshake (masked 1000); abort if the server does not end TCP in time."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(CLOSE_1000)
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except asyncio.TimeoutError:
            transport.abort()


async def open_clients(
    load: Load, host: str, port: int, count: int, verify: int, parallel: int = 50
) -> "list[Client]":
    """Open `count` connections, at most `parallel` handshakes at a time."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one() -> Client:
        async with gate:
            _, client = await loop.create_connection(
                lambda: Client(load, host, port, verify), host, port
            )
            await asyncio.wait_for(client.ready, 30)
            return client

    return list(await asyncio.gather(*(one() for _ in range(count))))


class Control:
    """The server's control port (echo_server.py)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "Control":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def ask(self, command: str) -> Any:
        self.writer.write(command.encode() + b"\n")
        return json.loads(await self.reader.readline())

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def percentiles(values: "list[float]", weights: "list[int]", qs: "list[float]") -> "list[float]":
    """Percentiles of values where each value stands for `weight` messages."""
    pairs = sorted(zip(values, weights))
    total = sum(weights)
    out = []
    for q in qs:
        rank = min(total - 1, int(q * total))  # the message at this rank, counting from 0
        seen = 0
        found = float("nan")
        for value, weight in pairs:
            seen += weight
            if seen > rank:
                found = value
                break
        out.append(found)
    return out


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 65536
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(args: argparse.Namespace) -> "dict[str, Any]":
    load = Load(args.size, args.window, args.text, args.compression == "deflate")
    clients = await open_clients(load, "127.0.0.1", args.port, args.connections, verify=3)
    ctl = await Control.open(args.ctl) if args.ctl else None
    if ctl is not None and args.profile:
        await ctl.ask("profile on")
    load.sending = True
    for client in clients:
        client.send(args.window)
    await asyncio.sleep(args.warmup)

    server0 = await ctl.ask("stats") if ctl is not None else None
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    n0 = load.received
    load.latencies.clear()
    load.weights.clear()
    await asyncio.sleep(args.duration)
    t1 = time.perf_counter()
    n1 = load.received
    cpu1 = time.process_time()
    p50, p99 = percentiles(load.latencies, load.weights, [0.50, 0.99])
    server1 = await ctl.ask("stats") if ctl is not None else None
    if ctl is not None and args.profile:
        await ctl.ask("profile off %s" % args.profile)

    load.sending = False
    await asyncio.wait_for(asyncio.gather(*(c.wait_idle() for c in clients)), 30)
    await asyncio.gather(*(c.close() for c in clients))
    if ctl is not None:
        await ctl.close()
    elapsed = t1 - t0
    result: dict[str, Any] = {
        "messages": n1 - n0,
        "seconds": elapsed,
        "rate": (n1 - n0) / elapsed,
        "p50": p50,
        "p99": p99,
        "gen_cpu": cpu1 - cpu0,
        "extensions": load.extensions,
    }
    if server0 is not None and server1 is not None:
        result["server_cpu"] = server1["cpu"] - server0["cpu"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the echo server's port")
    parser.add_argument("--ctl", type=int, help="the server's control port (echo_server.py)")
    parser.add_argument("--size", type=int, default=64, help="payload bytes per message")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--window", type=int, default=1, help="messages in flight per connection")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before timing")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds timed")
    parser.add_argument("--profile", help="cProfile the server over the window into this file")
    parser.add_argument("--text", action="store_true", help="JSON-like text messages, not binary")
    parser.add_argument(
        "--compression",
        choices=("none", "deflate"),
        default="none",
        help="deflate: offer permessage-deflate, require it, send compressed (implies --text)",
    )
    args = parser.parse_args()
    raise_nofile()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
