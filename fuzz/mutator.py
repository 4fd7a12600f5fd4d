"""Structure-aware mutations of frame streams, HTTP heads and WSConnection scripts.

Built on wsproto_lite's public frame builder (wsproto_lite.frames.build_frame, chop,
mask): a stream is split leniently into frames, whatever their validity, the frames are
changed as frames (header bits flipped, lengths that lie, opcodes and RSV bits swapped,
frames chopped, merged, reordered, UTF-8 corrupted at any position), and the result is
built again. split_frames() then join() gives back the same bytes, so an unchanged frame
stays byte for byte what it was.

Used by the atheris harnesses as libFuzzer's custom mutator (fuzz/harness.py) and by
the hypothesis test in tests/test_fuzz_mutator.py. Imports no atheris: a byte-level
mutator (atheris.Mutate) is passed in where one exists.
"""

import random
import zlib
from collections.abc import Callable

from fuzz import formats
from fuzz.formats import Record
from wsproto_lite.frames import build_frame, chop, mask

ByteMutator = Callable[[bytes, int], bytes]

INTERESTING_LENGTHS = (
    0, 1, 2, 3, 4, 124, 125, 126, 127, 128, 199, 200, 201, 1000, 1001, 65534, 65535, 65536,
    65537, 1 << 20, (1 << 20) + 1, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1,
)  # fmt: skip
INTERESTING_CODES = (
    0, 1, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012,
    1013, 1014, 1015, 1016, 1100, 2000, 2999, 3000, 3999, 4000, 4999, 5000, 65535,
)  # fmt: skip
# Bytes no UTF-8 text may hold at some position: stray continuations, overlong forms,
# surrogates, code points above U+10FFFF, bytes that never occur, truncated sequences.
BAD_UTF8 = (
    b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8", b"\xfe", b"\xff", b"\xc2", b"\xe2\x82",
    b"\xf0\x9f\x98",
)  # fmt: skip
GOOD_TEXT = ("", "a", "Hello", "é", "€", "😀", "\u07ff", "\u0800", "\uffff", "\U0010ffff", "κόσμε")
OPCODES = (0, 1, 2, 8, 9, 10, 0, 1, 2, 8, 9, 10, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15)
KEYS = (b"\x37\xfa\x21\x3d", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04")


class RawFrame:
    """A frame as it is on the wire, valid or not: header fields, unmasked payload, claim."""

    __slots__ = ("fin", "rsv", "opcode", "mask_key", "payload", "length", "length_size")

    def __init__(
        self,
        opcode: int,
        payload: bytes = b"",
        fin: bool = True,
        rsv: int = 0,
        mask_key: bytes | None = None,
        length: int | None = None,
        length_size: int | None = None,
    ) -> None:
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.rsv = rsv
        self.mask_key = mask_key
        self.length = length  # the claim, when it is not len(payload)
        self.length_size = length_size  # the encoding, when it is not the minimal one

    def copy(self) -> "RawFrame":
        return RawFrame(
            self.opcode,
            self.payload,
            self.fin,
            self.rsv,
            self.mask_key,
            self.length,
            self.length_size,
        )

    def encode(self) -> bytes:
        claim = len(self.payload) if self.length is None else self.length
        size = self.length_size
        if (size == 0 and claim > 127) or (size == 2 and claim > 0xFFFF):
            size = None  # the claim does not fit that field: use the minimal one
        return build_frame(
            self.opcode, self.payload, self.fin, self.rsv, self.mask_key, claim, size
        )

    def __repr__(self) -> str:
        return "RawFrame(op=%d, fin=%r, rsv=%d, key=%r, payload=%r, length=%r, size=%r)" % (
            self.opcode,
            self.fin,
            self.rsv,
            self.mask_key,
            self.payload[:40],
            self.length,
            self.length_size,
        )


def split_frames(data: bytes) -> tuple[list[RawFrame], bytes]:
    """Frames as the headers say, without judging them; the bytes of an unfinished header
    come back as a tail. A frame whose payload is cut short keeps its claim in `length`."""
    frames = []
    pos = 0
    n = len(data)
    while n - pos >= 2:
        b0 = data[pos]
        b1 = data[pos + 1]
        claim = b1 & 0x7F
        head = 2
        size = 0
        if claim == 126:
            size = 2
        elif claim == 127:
            size = 8
        if n - pos < head + size:
            break
        if size:
            claim = int.from_bytes(data[pos + 2 : pos + 2 + size], "big")
            head += size
        key = None
        if b1 & 0x80:
            if n - pos < head + 4:
                break
            key = data[pos + head : pos + head + 4]
            head += 4
        start = pos + head
        payload = data[start : start + claim]
        if key is not None:
            payload = mask(payload, key)
        minimal = 0 if claim < 126 else 2 if claim < 65536 else 8
        frames.append(
            RawFrame(
                b0 & 0x0F,
                payload,
                bool(b0 & 0x80),
                (b0 >> 4) & 7,
                key,
                None if len(payload) == claim else claim,
                None if size == minimal else size,
            )
        )
        pos = start + len(payload)
    return frames, data[pos:]


def join(frames: "list[RawFrame]", tail: bytes = b"") -> bytes:
    return b"".join(f.encode() for f in frames) + tail


def corrupt_utf8(data: bytes, pos: int, bad: bytes, replace: bool = True) -> bytes:
    """`data` with `bad` written at byte `pos` (over what was there, or inserted)."""
    pos = max(0, min(pos, len(data)))
    return data[:pos] + bad + data[pos + (len(bad) if replace else 0) :]


class Context:
    """What a mutation needs to know: whether new frames are masked, and the randomness."""

    def __init__(self, rng: random.Random, masked: bool) -> None:
        self.rng = rng
        self.masked = masked

    def key(self) -> bytes | None:
        rng = self.rng
        masked = self.masked if rng.random() < 0.9 else not self.masked
        if not masked:
            return None
        if rng.random() < 0.5:
            return KEYS[0]
        return rng.choice(KEYS[1:]) if rng.random() < 0.3 else rng.randbytes(4)

    def text(self, limit: int = 60) -> bytes:
        rng = self.rng
        parts = [rng.choice(GOOD_TEXT) for _ in range(rng.randint(0, 6))]
        return "".join(parts).encode("utf-8")[:limit]

    def payload(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            # What fuzz.oracles.FuzzExtension acts on, where it is negotiated.
            return (
                rng.choice((b"!e2", b"!e7", b"!e9", b"!z", b""))
                + rng.randbytes(8)
                + (rng.choice((b"!t", b"!f", b"")))
            )
        if r < 0.4:
            return self.text()
        if r < 0.8:
            return rng.randbytes(rng.choice((0, 1, 2, 5, 16, 64)))
        return rng.randbytes(rng.choice((124, 125, 126, 127, 200, 300)))


def random_frame(ctx: Context, opcode: int | None = None) -> RawFrame:
    """A frame that is valid on its own (masking aside): data, ping, pong or close."""
    rng = ctx.rng
    if opcode is None:
        opcode = rng.choice((1, 1, 2, 2, 8, 9, 10))
    if opcode == 8:
        payload = close_payload(ctx)
    elif opcode >= 8:
        payload = ctx.payload()[:125]
    elif opcode == 1:
        payload = ctx.text(rng.choice((10, 60, 300)))
    else:
        payload = ctx.payload()
    return RawFrame(opcode, payload, True, 0, ctx.key())


def close_payload(ctx: Context) -> bytes:
    rng = ctx.rng
    r = rng.random()
    if r < 0.1:
        return b""
    if r < 0.15:
        return rng.randbytes(1)
    code = rng.choice(INTERESTING_CODES)
    reason = ctx.text(rng.choice((0, 10, 123)))
    if rng.random() < 0.2:
        reason = corrupt_utf8(reason, rng.randint(0, len(reason)), rng.choice(BAD_UTF8))
    return (code.to_bytes(2, "big") + reason)[:125]


def random_frames(ctx: Context, count: int) -> list[RawFrame]:
    """A valid stream: messages (some fragmented, with control frames between fragments)."""
    rng = ctx.rng
    frames: list[RawFrame] = []
    for _ in range(count):
        frame = random_frame(ctx, rng.choice((1, 2, 1, 2, 9, 10)))
        if frame.opcode < 8 and rng.random() < 0.4:
            pieces = fragment(frame, rng, rng.randint(2, 4))
            if rng.random() < 0.5:
                pieces.insert(rng.randint(1, len(pieces) - 1), random_frame(ctx, 9))
            frames.extend(pieces)
        else:
            frames.append(frame)
    if rng.random() < 0.3:
        frames.append(random_frame(ctx, 8))
    return frames


def fragment(frame: RawFrame, rng: random.Random, parts: int) -> list[RawFrame]:
    """Split a data frame into `parts` fragments at random cuts (maybe mid code point)."""
    payload = frame.payload
    cuts = sorted(rng.randint(0, len(payload)) for _ in range(parts - 1))
    out = []
    start = 0
    for i, end in enumerate(cuts + [len(payload)]):
        piece = frame.copy()
        piece.payload = payload[start:end]
        piece.length = None
        piece.length_size = None
        piece.opcode = frame.opcode if i == 0 else 0
        piece.fin = frame.fin and end == len(payload) and i == len(cuts)
        out.append(piece)
        start = end
    return out


# -- mutations of a frame list -------------------------------------------------------------


def _pick(frames: "list[RawFrame]", rng: random.Random) -> int:
    return rng.randrange(len(frames))


def m_flip_fin(frames: "list[RawFrame]", ctx: Context) -> None:
    f = frames[_pick(frames, ctx.rng)]
    f.fin = not f.fin


def m_rsv(frames: "list[RawFrame]", ctx: Context) -> None:
    frames[_pick(frames, ctx.rng)].rsv = ctx.rng.randint(0, 7)


def m_opcode(frames: "list[RawFrame]", ctx: Context) -> None:
    frames[_pick(frames, ctx.rng)].opcode = ctx.rng.choice(OPCODES)


def m_mask(frames: "list[RawFrame]", ctx: Context) -> None:
    f = frames[_pick(frames, ctx.rng)]
    f.mask_key = None if f.mask_key is not None else ctx.rng.choice(KEYS)


def m_lie_length(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    f = frames[_pick(frames, rng)]
    n = len(f.payload)
    if rng.random() < 0.5:
        f.length = max(0, n + rng.choice((-3, -2, -1, 1, 2, 3, 100)))
    else:
        f.length = rng.choice(INTERESTING_LENGTHS)


def m_nonminimal_length(frames: "list[RawFrame]", ctx: Context) -> None:
    f = frames[_pick(frames, ctx.rng)]
    f.length_size = ctx.rng.choice((2, 8))


def m_truncate(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    f = frames[_pick(frames, rng)]
    cut = rng.randint(0, len(f.payload))
    if rng.random() < 0.5 and f.length is None:
        f.length = len(f.payload)  # keep the claim: the frame now ends early
    f.payload = f.payload[:cut]


def m_fragment(frames: "list[RawFrame]", ctx: Context) -> None:
    i = _pick(frames, ctx.rng)
    frames[i : i + 1] = fragment(frames[i], ctx.rng, ctx.rng.randint(2, 4))


def m_merge(frames: "list[RawFrame]", ctx: Context) -> None:
    if len(frames) < 2:
        return
    i = ctx.rng.randrange(len(frames) - 1)
    a, b = frames[i], frames[i + 1]
    merged = a.copy()
    merged.payload = a.payload + b.payload
    merged.fin = b.fin
    merged.length = None
    frames[i : i + 2] = [merged]


def m_duplicate(frames: "list[RawFrame]", ctx: Context) -> None:
    i = _pick(frames, ctx.rng)
    frames.insert(ctx.rng.randint(0, len(frames)), frames[i].copy())


def m_drop(frames: "list[RawFrame]", ctx: Context) -> None:
    del frames[_pick(frames, ctx.rng)]


def m_swap(frames: "list[RawFrame]", ctx: Context) -> None:
    if len(frames) >= 2:
        i = ctx.rng.randrange(len(frames) - 1)
        frames[i], frames[i + 1] = frames[i + 1], frames[i]


def m_insert(frames: "list[RawFrame]", ctx: Context) -> None:
    frame = random_frame(ctx)
    if frame.opcode < 8 and ctx.rng.random() < 0.3:
        frame.rsv = 4  # RSV1: what a negotiated extension (fuzz.oracles.FuzzExtension) claims
    frames.insert(ctx.rng.randint(0, len(frames)), frame)


def m_oversize_control(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    opcode = rng.choice((8, 9, 10))
    payload = rng.randbytes(rng.choice((126, 127, 128, 200)))
    frames.insert(rng.randint(0, len(frames)), RawFrame(opcode, payload, True, 0, ctx.key()))


def m_fragmented_control(frames: "list[RawFrame]", ctx: Context) -> None:
    f = random_frame(ctx, ctx.rng.choice((8, 9, 10)))
    f.fin = False
    frames.insert(ctx.rng.randint(0, len(frames)), f)


def m_corrupt_utf8(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    texts = [f for f in frames if f.opcode in (0, 1, 8)]
    if not texts:
        frames.append(RawFrame(1, ctx.text(), True, 0, ctx.key()))
        texts = frames[-1:]
    f = rng.choice(texts)
    start = 2 if f.opcode == 8 and len(f.payload) >= 2 else 0
    pos = rng.randint(start, len(f.payload))
    f.payload = corrupt_utf8(f.payload, pos, rng.choice(BAD_UTF8), rng.random() < 0.5)
    if f.opcode == 8:
        f.payload = f.payload[:125]
    f.length = None


def m_close_code(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    closes = [f for f in frames if f.opcode == 8]
    if not closes:
        frames.insert(rng.randint(0, len(frames)), random_frame(ctx, 8))
        return
    f = rng.choice(closes)
    if rng.random() < 0.2:
        f.payload = f.payload[:1]
    else:
        f.payload = rng.choice(INTERESTING_CODES).to_bytes(2, "big") + f.payload[2:]
    f.length = None


def m_payload_bytes(frames: "list[RawFrame]", ctx: Context) -> None:
    rng = ctx.rng
    f = frames[_pick(frames, rng)]
    if not f.payload:
        f.payload = rng.randbytes(rng.randint(1, 8))
        return
    data = bytearray(f.payload)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    f.payload = bytes(data)


MUTATIONS = (
    m_flip_fin,
    m_rsv,
    m_opcode,
    m_mask,
    m_lie_length,
    m_nonminimal_length,
    m_truncate,
    m_fragment,
    m_merge,
    m_duplicate,
    m_drop,
    m_swap,
    m_insert,
    m_oversize_control,
    m_fragmented_control,
    m_corrupt_utf8,
    m_close_code,
    m_payload_bytes,
)


def mutate_frames(data: bytes, ctx: Context) -> bytes:
    """One structural mutation of a frame stream (or a byte-level one on its headers)."""
    rng = ctx.rng
    frames, tail = split_frames(data)
    r = rng.random()
    if not frames or r < 0.08:
        frames.extend(random_frames(ctx, rng.randint(1, 4)))
    elif r < 0.16:
        return _flip_header_bit(frames, tail, rng)
    elif r < 0.2:
        # Chop the stream anywhere (inside a header too) and drop what follows.
        pieces = chop(join(frames, tail), rng.randint(1, 64))
        return b"".join(pieces[: rng.randint(0, len(pieces))])
    else:
        rng.choice(MUTATIONS)(frames, ctx)
    if rng.random() < 0.05:
        tail += rng.randbytes(rng.randint(1, 8))
    return join(frames, tail)


def _flip_header_bit(frames: "list[RawFrame]", tail: bytes, rng: random.Random) -> bytes:
    i = _pick(frames, rng)
    encoded = [f.encode() for f in frames]
    head = bytearray(encoded[i])
    bit = rng.randrange(min(len(head), 14) * 8)
    head[bit >> 3] ^= 1 << (bit & 7)
    encoded[i] = bytes(head)
    return b"".join(encoded) + tail


# -- HTTP heads ------------------------------------------------------------------------------

REQUEST_HEADERS = (
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Upgrade", b"WebSocket, h2c"),
    (b"Connection", b"Upgrade"),
    (b"Connection", b"keep-alive, Upgrade"),
    (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"Sec-WebSocket-Version", b"13"),
    (b"Sec-WebSocket-Version", b"8"),
    (b"Sec-WebSocket-Protocol", b"chat, superchat"),
    (b"Sec-WebSocket-Extensions", b"x-fuzz, permessage-deflate; client_max_window_bits"),
    (b"Sec-WebSocket-Extensions", b'x-fuzz; a="b,c"'),
    (b"Origin", b"http://example.com"),
    (b"Content-Length", b"0"),
)
RESPONSE_HEADERS = (
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    (b"Sec-WebSocket-Protocol", b"chat"),
    (b"Sec-WebSocket-Extensions", b"x-fuzz"),
    (b"Content-Length", b"5"),
    (b"Content-Length", b"5, 5"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Transfer-Encoding", b"gzip"),
    (b"Location", b"ws://example.com/"),
)
BAD_VALUES = (
    b"",
    b" ",
    b"\x00",
    b"a\rb",
    b"a\nb",
    b"\x7f",
    b"\xc3\xa9",
    b"\xff",
    b"dGhlIHNhbXBsZSBub25jZQ=",
    b"dGhlIHNhbXBsZSBub25jZQ==x",
    b"dGhlIHNhbXBsZSBub25jZQ!=",
    b"AAAAAAAAAAAAAAAAAAAAAA==",
    b"13, 13",
    b"upgrade,",
    b",,,",
    b'"quoted"',
    b"a" * 300,
)
START_LINES = (
    b"GET / HTTP/1.1",
    b"GET /chat?x=1 HTTP/1.1",
    b"POST / HTTP/1.1",
    b"GET / HTTP/1.0",
    b"GET / HTTP/2.0",
    b"GET  / HTTP/1.1",
    b"GET / HTTP/1.1 ",
    b"get / HTTP/1.1",
    b"GET /\x00 HTTP/1.1",
    b"HTTP/1.1 101 Switching Protocols",
    b"HTTP/1.1 101",
    b"HTTP/1.0 101 Switching Protocols",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 301 Moved",
    b"HTTP/1.1 403 Forbidden",
    b"HTTP/1.1 426 Upgrade Required",
    b"HTTP/1.1 999 X",
    b"HTTP/1.1 1010 X",
    b"HTTP/1.1 20",
)
CHUNKED_BODIES = (
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"5\r\nhelloX\r\n",
    b"0\r\n",
    b"zz\r\n",
)


def mutate_head(data: bytes, ctx: Context, response: bool) -> bytes:
    """One mutation of an HTTP head (and sometimes of the frames or body after it)."""
    rng = ctx.rng
    end = data.find(b"\r\n\r\n")
    if end < 0:
        head, sep, rest = data, b"", b""
    else:
        head, sep, rest = data[:end], b"\r\n\r\n", data[end + 4 :]
    if rng.random() < 0.3 and sep:
        if response and rng.random() < 0.3:
            return head + sep + rng.choice(CHUNKED_BODIES)
        return head + sep + mutate_frames(rest, ctx)
    lines = head.split(b"\r\n")
    pool = RESPONSE_HEADERS if response else REQUEST_HEADERS
    r = rng.randrange(14)
    i = rng.randrange(len(lines))
    j = rng.randint(1, max(1, len(lines)))
    if r == 0 and len(lines) > 1:
        del lines[max(i, 1)]
    elif r == 1:
        lines.insert(j, lines[i])
    elif r == 2 and len(lines) > 2:
        a = rng.randrange(1, len(lines))
        b = rng.randrange(1, len(lines))
        lines[a], lines[b] = lines[b], lines[a]
    elif r == 3:
        name, value = rng.choice(pool)
        lines.insert(j, name + b": " + value)
    elif r == 4 and i > 0:
        name, _, value = lines[i].partition(b":")
        lines[i] = name + b":" + rng.choice(BAD_VALUES)
    elif r == 5 and i > 0:
        name, _, value = lines[i].partition(b":")
        lines[i] = (name.upper() if rng.random() < 0.5 else name.lower()) + b":" + value
    elif r == 6:
        lines[0] = rng.choice(START_LINES)
    elif r == 7:
        return b"\n".join(lines) + b"\n\n" + rest  # bare LF line ends
    elif r == 8 and i > 0:
        lines.insert(i + 1, b" folded")
    elif r == 9:
        return data[: rng.randint(0, len(data))]  # cut anywhere
    elif r == 10:
        lines.insert(j, b"X-Pad: " + b"a" * rng.choice((50, 300, 5000, 20000)))
    elif r == 11 and i > 0:
        name, _, value = lines[i].partition(b":")
        lines[i] = name + b" : " + value.strip()
    elif r == 12:
        pos = rng.randint(0, len(head))
        return head[:pos] + bytes((rng.choice((0, 9, 10, 13, 32, 58, 127, 200)),)) + head[pos:]
    else:
        lines.insert(j, b"")  # an early blank line
    return b"\r\n".join(lines) + (sep or b"\r\n\r\n") + rest


# -- WSConnection scripts --------------------------------------------------------------------


def random_record(ctx: Context) -> Record:
    rng = ctx.rng
    op = rng.randrange(8)
    if op in (formats.OP_FEED, formats.OP_FEED_SPLIT):
        data = join(random_frames(ctx, rng.randint(1, 3)))
        return Record(op, rng.randrange(32), data)
    if op == formats.OP_SEND:
        kind = rng.randrange(len(formats.SEND_KINDS))
        flags = rng.choice((0, 1, 1, 2, 3, 5, 0x81, 0x83, rng.randrange(256)))
        data = ctx.text() if rng.random() < 0.5 else rng.randbytes(rng.choice((0, 2, 8, 125, 126)))
        if formats.SEND_KINDS[kind] == "close" and rng.random() < 0.7:
            data = close_payload(ctx)
        return Record(op, kind, data, flags)
    return Record(op, rng.randrange(32))


def mutate_script(data: bytes, ctx: Context) -> bytes:
    """One mutation of a WSConnection script: of a record, or of the records' order."""
    rng = ctx.rng
    records = formats.parse_records(data)
    r = rng.randrange(10)
    feeds = [k for k, rec in enumerate(records) if rec.op in (0, 1)]
    if not records or r == 0:
        records.insert(rng.randint(0, len(records)), random_record(ctx))
    elif r <= 3 and feeds:
        rec = records[rng.choice(feeds)]
        if rec.data.startswith((b"GET ", b"HTTP/")):
            rec.data = mutate_head(rec.data, ctx, rec.data.startswith(b"HTTP/"))
        else:
            rec.data = mutate_frames(rec.data, ctx)
    elif r == 4:
        del records[rng.randrange(len(records))]
    elif r == 5:
        k = rng.randrange(len(records))
        records.insert(rng.randint(0, len(records)), Record(**_fields(records[k])))
    elif r == 6 and len(records) >= 2:
        k = rng.randrange(len(records) - 1)
        records[k], records[k + 1] = records[k + 1], records[k]
    elif r == 7 and feeds:
        k = rng.choice(feeds)
        rec = records[k]
        cut = rng.randint(0, len(rec.data))
        records[k : k + 1] = [
            Record(rec.op, rec.arg, rec.data[:cut]),
            formats.events() if rng.random() < 0.5 else formats.data_to_send(),
            Record(rec.op, rec.arg, rec.data[cut:]),
        ]
    elif r == 8:
        rec = records[rng.randrange(len(records))]
        rec.arg = rng.randrange(32)
        if rec.op == formats.OP_SEND:
            rec.flags ^= 1 << rng.randrange(8)
    else:
        rec = records[rng.randrange(len(records))]
        if rec.op in (0, 1):
            rec.op ^= 1
        else:
            rec.op = rng.randrange(8)
    return formats.encode_records(records)


def _fields(rec: Record) -> dict[str, object]:
    return {"op": rec.op, "arg": rec.arg, "data": rec.data, "flags": rec.flags}


# -- permessage-deflate (RFC 7692) ------------------------------------------------------------
# Compressed payloads are made with plain zlib, apart from the core's compressor.

BOMB_SIZES = (1, 125, 126, 1000, 1001, 16384, 16385, 65536, 65537, (1 << 20) + 1, 4 << 20)


def deflate_raw(data: bytes, rng: random.Random, final: bool = False) -> bytes:
    """`data` as a raw deflate stream, sync-flushed with its 00 00 ff ff taken off (§7.2.1),
    or ended with a final block."""
    c = zlib.compressobj(rng.choice((0, 1, 6, 9)), zlib.DEFLATED, -rng.randint(9, 15))
    out = c.compress(data)
    if final:
        return out + c.flush(zlib.Z_FINISH)
    return (out + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def compressed_message(ctx: Context, plain: bytes, opcode: int = 2) -> list[RawFrame]:
    """A compressed message: RSV1 on its first frame, the stream cut into fragments."""
    rng = ctx.rng
    wire = deflate_raw(plain, rng, rng.random() < 0.1)
    frame = RawFrame(opcode, wire, True, 4, ctx.key())
    if rng.random() < 0.3:
        pieces = fragment(frame, rng, rng.randint(2, 4))
        for piece in pieces[1:]:
            piece.rsv = 0
            piece.mask_key = ctx.key()
        return pieces
    return [frame]


def m_compress(frames: "list[RawFrame]", ctx: Context) -> None:
    """Replace a data frame (or add a message) with a compressed message of its payload."""
    rng = ctx.rng
    data = [i for i, f in enumerate(frames) if f.opcode in (1, 2) and f.fin]
    if data and rng.random() < 0.7:
        i = rng.choice(data)
        frames[i : i + 1] = compressed_message(ctx, frames[i].payload, frames[i].opcode)
        return
    text = rng.random() < 0.5
    plain = ctx.text(300) if text else rng.randbytes(rng.choice((0, 1, 64, 300)))
    if rng.random() < 0.3:
        plain *= rng.randint(2, 50)  # something that compresses
    at = rng.randint(0, len(frames))
    frames[at:at] = compressed_message(ctx, plain, 1 if text else 2)


def m_bomb(frames: "list[RawFrame]", ctx: Context) -> None:
    """A message that inflates far beyond its size on the wire."""
    rng = ctx.rng
    plain = bytes(rng.choice(BOMB_SIZES)) if rng.random() < 0.8 else b"a" * rng.choice(BOMB_SIZES)
    at = rng.randint(0, len(frames))
    frames[at:at] = compressed_message(ctx, plain, rng.choice((1, 2)))


def m_deflate_damage(frames: "list[RawFrame]", ctx: Context) -> None:
    """Truncate a compressed payload, append garbage or a final block, or set RSV1 where it
    may not be (a continuation or a control frame)."""
    rng = ctx.rng
    f = frames[_pick(frames, rng)]
    r = rng.random()
    if r < 0.35:
        f.payload = f.payload[: rng.randint(0, max(len(f.payload) - 1, 0))]
        f.length = None
    elif r < 0.5:
        f.payload += rng.choice((b"\x00", b"\x03\x00", b"\x00\x00\xff\xff", rng.randbytes(3)))
        f.length = None
    elif r < 0.65:
        f.payload = rng.randbytes(rng.randint(1, 20))
        f.rsv = 4
        f.length = None
    else:
        f.rsv ^= 4


DEFLATE_MUTATIONS = (m_compress, m_compress, m_bomb, m_deflate_damage, m_deflate_damage)


def mutate_deflate_script(data: bytes, ctx: Context) -> bytes:
    """A script mutation, or a deflate one of the frames in a FEED record."""
    rng = ctx.rng
    if rng.random() < 0.5:
        return mutate_script(data, ctx)
    records = formats.parse_records(data)
    feeds = [rec for rec in records if rec.op in (0, 1)]
    if not feeds:
        rec = Record(formats.OP_FEED, 0, b"")
        records.insert(rng.randint(0, len(records)), rec)
        records.append(formats.events())
    else:
        rec = rng.choice(feeds)
    frames, tail = split_frames(rec.data)
    if not frames:
        frames.append(RawFrame(2, b"", True, 4, ctx.key()))
    rng.choice(DEFLATE_MUTATIONS)(frames, ctx)
    rec.data = join(frames, tail)[:0xFFFF]
    return formats.encode_records(records)


# -- the entry point ---------------------------------------------------------------------------

BODY_KINDS = {
    "frames_server": "frames_masked",
    "frames_client": "frames_unmasked",
    "handshake_server": "request",
    "handshake_client": "response",
    "wsconnection": "script",
    "deflate": "deflate_script",
    "speedups": "frames_masked",  # frames_server's input, fed to both paths
}


def mutate_body(kind: str, body: bytes, ctx: Context) -> bytes:
    if kind == "frames_masked" or kind == "frames_unmasked":
        return mutate_frames(body, ctx)
    if kind == "request" or kind == "response":
        return mutate_head(body, ctx, kind == "response")
    if kind == "deflate_script":
        return mutate_deflate_script(body, ctx)
    return mutate_script(body, ctx)


def mutate(
    target: str,
    data: bytes,
    rng: random.Random,
    max_size: int = 1 << 16,
    byte_mutator: ByteMutator | None = None,
) -> bytes:
    """A mutant of a harness input: config bytes kept (now and then one bit flipped), the
    body changed by one to four structural mutations and maybe a byte-level one."""
    kind = BODY_KINDS[target]
    c0, c1, body = formats.split_config(data)
    if rng.random() < 0.05:
        c0 ^= 1 << rng.randrange(8)
    if rng.random() < 0.05:
        c1 ^= 1 << rng.randrange(8)
    if kind in ("script", "deflate_script"):
        masked = not c0 & 1  # config bit 0: we are the client, so the peer does not mask
    else:
        masked = kind in ("frames_masked", "request")
    ctx = Context(rng, masked)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        body = mutate_body(kind, body, ctx)
    if byte_mutator is not None and rng.random() < 0.15:
        body = byte_mutator(body, max(max_size - 2, 0))
    return (bytes((c0, c1)) + body)[:max_size]


def libfuzzer_mutator(target: str, byte_mutator: ByteMutator) -> Callable[[bytes, int, int], bytes]:
    """A custom_mutator for atheris.Setup(): structural mostly, libFuzzer's own otherwise."""

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.3:
            return byte_mutator(data, max_size)
        return mutate(target, data, rng, max_size, byte_mutator)

    return custom_mutator
