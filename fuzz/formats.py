"""The harnesses' input formats: two config bytes, then a body.

Every harness reads its first two bytes as settings (role, limits, chunking) and the
rest as its body: a stream of frames, an HTTP head (maybe followed by frames), or, for
the WSConnection harness, a script of records. Keeping the settings in the input makes
every crash file a complete reproducer, and lets the mutator change the body's structure
without disturbing them.

A script record is one tag byte, `op | arg << 3`, followed by what the op needs:

    FEED, FEED_SPLIT   2-byte big-endian length, then that many bytes for receive_data()
                       (FEED_SPLIT feeds them in pieces of arg + 1 bytes; a bare
                       Connection gets FEED's bytes as bytes, bytearray or memoryview
                       for arg % 3 = 0, 1, 2)
    EVENTS             drain events() completely
    EVENTS_SOME        take at most arg events (at least one), then abandon the iterator
    SEND               a flags byte, a length byte, that many bytes: send() event kind arg
    DATA_TO_SEND       drain data_to_send()
    EOF                receive_data(None)
    REPLY              send the natural answer to the last event received

A record cut short by the end of the input takes what is left.
"""

import random

FRAME_LIMITS = (None, 0, 1, 125, 126, 127, 65535, 65536)
MESSAGE_LIMITS = (None, 0, 1, 125, 126, 200, 65536, 1 << 20)
HANDSHAKE_LIMITS = (64, 256, 4096, 16384)
REJECT_BODY_LIMITS = (0, 10, 1000, 65536)

# Harnesses that read another harness's input format start from its seeds: the speedups
# harness reads frames_server's (fuzz/oracles.run_speedups), so it has no folder of its
# own in fuzz/corpus.
SEEDS_FROM = {"speedups": "frames_server"}


def seed_folder(harness: str) -> str:
    """The fuzz/corpus folder that holds `harness`'s seeds."""
    return SEEDS_FROM.get(harness, harness)


OP_FEED = 0
OP_FEED_SPLIT = 1
OP_EVENTS = 2
OP_EVENTS_SOME = 3
OP_SEND = 4
OP_DATA_TO_SEND = 5
OP_EOF = 6
OP_REPLY = 7
OP_NAMES = ("FEED", "FEED_SPLIT", "EVENTS", "EVENTS_SOME", "SEND", "DATA_TO_SEND", "EOF", "REPLY")

# SEND kinds (the record's arg).
SEND_KINDS = (
    "text",
    "bytes",
    "message",
    "ping",
    "pong",
    "close",
    "close_response",
    "pong_response",
    "accept",
    "reject",
    "reject_data",
    "request",
    "request_valid",
    "accept_plain",
    "text_fragment",
    "bytes_fragment",
)
# A SEND record's flags byte: bit 0 = finished (message_finished, body_finished, has_body),
# bit 1 = a str instead of bytes where either fits, bit 7 = decode str fields with
# "surrogateescape" (so they may hold lone surrogates: bad application input).
FLAG_FINISHED = 0x01
FLAG_STR = 0x02
FLAG_SURROGATES = 0x80


def split_config(data: bytes) -> tuple[int, int, bytes]:
    """(config byte 0, config byte 1, body); missing config bytes read as 0."""
    c0 = data[0] if len(data) > 0 else 0
    c1 = data[1] if len(data) > 1 else 0
    return c0, c1, data[2:]


def chunk_sizes(seed: int, total: int) -> list[int]:
    """How to cut `total` bytes into feeds: seed 0 whole, 1 byte by byte, else pseudo-random."""
    if total <= 0:
        return []
    if seed == 0:
        return [total]
    if seed == 1:
        return [1] * total
    rng = random.Random(seed)
    sizes = []
    left = total
    while left > 0:
        n = min(left, rng.randint(1, 1 << rng.randint(1, 9)))
        sizes.append(n)
        left -= n
    return sizes


def chunks(seed: int, data: bytes) -> list[bytes]:
    """`data` cut as chunk_sizes(seed, len(data)) says."""
    out = []
    pos = 0
    for n in chunk_sizes(seed, len(data)):
        out.append(data[pos : pos + n])
        pos += n
    return out


class Record:
    """One step of a WSConnection script."""

    __slots__ = ("op", "arg", "flags", "data")

    def __init__(self, op: int, arg: int = 0, data: bytes = b"", flags: int = 0) -> None:
        self.op = op & 7
        self.arg = arg & 31
        self.data = data
        self.flags = flags & 0xFF

    def encode(self) -> bytes:
        tag = bytes((self.op | (self.arg << 3),))
        if self.op in (OP_FEED, OP_FEED_SPLIT):
            data = self.data[:0xFFFF]
            return tag + len(data).to_bytes(2, "big") + data
        if self.op == OP_SEND:
            data = self.data[:0xFF]
            return tag + bytes((self.flags, len(data))) + data
        return tag

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.op, self.arg, self.flags, self.data) == (
            other.op,
            other.arg,
            other.flags,
            other.data,
        )

    def __repr__(self) -> str:
        extra = ""
        if self.op in (OP_FEED, OP_FEED_SPLIT, OP_SEND):
            extra = ", data=%r" % (self.data,)
        if self.op == OP_SEND:
            extra += ", flags=0x%02x (%s)" % (self.flags, SEND_KINDS[self.arg % len(SEND_KINDS)])
        return "Record(%s, arg=%d%s)" % (OP_NAMES[self.op], self.arg, extra)


def parse_records(body: bytes) -> list[Record]:
    """The records of a script body; a truncated last record keeps what is there."""
    records = []
    pos = 0
    n = len(body)
    while pos < n:
        tag = body[pos]
        pos += 1
        op = tag & 7
        arg = tag >> 3
        if op in (OP_FEED, OP_FEED_SPLIT):
            length = int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            records.append(Record(op, arg, body[pos : pos + length]))
            pos += length
        elif op == OP_SEND:
            flags = body[pos] if pos < n else 0
            length = body[pos + 1] if pos + 1 < n else 0
            pos += 2
            records.append(Record(op, arg, body[pos : pos + length], flags))
            pos += length
        else:
            records.append(Record(op, arg))
    return records


def encode_records(records: "list[Record]") -> bytes:
    return b"".join(r.encode() for r in records)


def feed(data: bytes) -> Record:
    return Record(OP_FEED, 0, data)


def feed_split(data: bytes, piece: int) -> Record:
    return Record(OP_FEED_SPLIT, max(piece, 1) - 1, data)


def events(limit: "int | None" = None) -> Record:
    if limit is None:
        return Record(OP_EVENTS)
    return Record(OP_EVENTS_SOME, limit)


def send(kind: str, data: bytes = b"", flags: int = FLAG_FINISHED) -> Record:
    return Record(OP_SEND, SEND_KINDS.index(kind), data, flags)


def data_to_send() -> Record:
    return Record(OP_DATA_TO_SEND)


def eof() -> Record:
    return Record(OP_EOF)


def reply() -> Record:
    return Record(OP_REPLY)
