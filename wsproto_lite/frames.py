"""RFC 6455 frames on their own: opcodes, close codes, encoder, incremental parser, builder.

No connection state and no I/O. `FrameParser` checks everything a frame stream can get
wrong by itself (RSV bits, opcodes, masking, lengths, control frame rules, fragment
order, size limits at the header); `build_frame` makes any frame at all, valid or not,
for fuzzing other implementations.
"""

import struct

from ._compat import HAVE_ENUM, MICROPYTHON, TYPE_CHECKING, IntEnum, const, own_defaults
from .errors import InvalidUTF8, LocalProtocolError, MessageTooBig, RemoteProtocolError
from .utf8 import decode_utf8

if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple, Union

    Buffer = Union[bytes, bytearray, memoryview]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2): an IntEnum where `enum` exists, else plain ints."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseReason(IntEnum):
    """Close codes (RFC 6455 §7.4.1, IANA): an IntEnum where `enum` exists, else plain ints."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE_FAILED = 1015


_KNOWN_CODES = tuple(int(c) for c in CloseReason) if HAVE_ENUM else ()

_FIN = const(0x80)
_RSV = const(0x70)
_OPCODE = const(0x0F)
_MASKED = const(0x80)
_LEN7 = const(0x7F)
_UNLIMITED = 1 << 64  # larger than any length field can claim
_MAX_CONTROL = const(125)
# FrameParser's per-instance state (see _compat.own_defaults).
_PARSER_STATE = (
    "expect_mask",
    "max_frame_size",
    "max_message_size",
    "allowed_rsv",
    "stream_payload",
    "assemble",
    "_buf",
    "_pos",
    "_room",
    "_error",
    "_partial",
    "_msg",
)


def is_control(opcode: int) -> bool:
    """True for close, ping and pong (and the reserved control opcodes)."""
    return opcode >= 8


def is_valid_close_code(code: int) -> bool:
    """True for the codes that may appear in a close frame on the wire (RFC 6455 §7.4)."""
    if 1000 <= code <= 1014:
        return code not in (1004, 1005, 1006)
    return 3000 <= code <= 4999


def _xor_tables() -> "Optional[List[bytes]]":
    # CPython only: bytearray.translate and stride slices are missing on MicroPython.
    try:
        probe = bytearray(b"ab")
        probe[::2] = probe[::2].translate(bytes(range(256)))
    except (AttributeError, NotImplementedError, TypeError):
        return None
    return [bytes(b ^ x for b in range(256)) for x in range(256)]


_TABLES = _xor_tables()
# Where translate tables beat one big-int XOR (CPython 3.11, benchmarks/core.py):
# 1 KiB 2.6 us vs 3.7 us, 64 KiB 82 us vs 180 us, 1 MiB 1.2 ms vs 3.3 ms.
_TABLE_MIN = const(1024)


# _REP[w] repeats a 32-bit key w times when multiplied by it: the pad for a short
# payload costs one multiplication (about 2x faster than building a padded key).
_REP = [(1 << (32 * w)) // 0xFFFFFFFF for w in range(34)]
_SMALL = const(128)


def _mask_small(data: "Buffer", kint: int) -> bytes:
    # Payloads of at most _SMALL bytes, key as a little-endian int.
    n = len(data)
    words = (n + 3) >> 2
    x = int.from_bytes(data, "little") ^ (kint * _REP[words])
    return x.to_bytes(words << 2, "little")[:n]


def flat(data: "Any") -> "Buffer":
    """Any bytes-like object as a flat run of bytes, so that len() counts bytes.

    bytes and bytearray as they are; a contiguous buffer (memoryview, array.array) as a
    byte view of itself, a strided one copied into bytes. TypeError for anything that is
    not bytes-like (str included). The C accelerator reads buffers the same way.
    """
    if type(data) is bytes or type(data) is bytearray:
        return data
    view = memoryview(data)
    try:
        if view.c_contiguous:
            return view if view.itemsize == 1 and view.ndim == 1 else view.cast("B")
        return view.tobytes()
    except AttributeError:  # MicroPython: every memoryview is flat bytes or a typed array
        return view


def _key(key: "Buffer", offset: int) -> bytes:
    # The 4 key bytes rotated to `offset`: TypeError for a non-buffer, ValueError unless 4.
    k = key if type(key) is bytes else bytes(flat(key))
    if len(k) != 4:
        raise ValueError("a masking key is 4 bytes")
    if offset & 3:
        k = k[offset & 3 :] + k[: offset & 3]
    return k


def _pure_mask(data: "Buffer", key: "Buffer", offset: int = 0) -> bytes:
    """XOR a payload with a 4-byte masking key, starting `offset` bytes into the key cycle.

    Whole payloads at once, never a per-byte loop (about 30x slower on CPython and on
    MicroPython): one big-int XOR, or on CPython from 1 KiB up one bytes.translate()
    table per key byte. Masking and unmasking are the same operation. Any bytes-like
    payload is accepted (TypeError otherwise); the key must be 4 bytes (ValueError).
    """
    if type(data) is not bytes and type(data) is not bytearray:
        data = flat(data)  # TypeError for what is not bytes-like, as on the C path
    k = _key(key, offset)
    n = len(data)
    if not n:
        return b""
    if n <= _SMALL:
        return _mask_small(data, int.from_bytes(k, "little"))
    return _mask_big(data, k, n)


def _mask_big(data: "Buffer", k: bytes, n: int) -> bytes:
    # _pure_mask beyond _SMALL bytes, apart: MicroPython puts a call's frame on the heap
    # when its locals and stack pass 11 words, which made every short mask cost 20 us.
    tables = _TABLES
    if tables is not None and n >= _TABLE_MIN:
        out = bytearray(data)
        out[0::4] = out[0::4].translate(tables[k[0]])
        out[1::4] = out[1::4].translate(tables[k[1]])
        out[2::4] = out[2::4].translate(tables[k[2]])
        out[3::4] = out[3::4].translate(tables[k[3]])
        return bytes(out)
    pad = (k * ((n >> 2) + 1))[:n]
    x = int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")
    return x.to_bytes(n, "little")


def _pure_mask_append(dest: bytearray, data: "Buffer", key: "Buffer", offset: int = 0) -> None:
    """Append `data` masked with `key` (from `offset` into its cycle) to the bytearray dest.

    TypeError when dest is not a bytearray; BufferError while dest is exported.
    """
    if not isinstance(dest, bytearray):
        raise TypeError("mask_append() appends to a bytearray")
    if type(data) is not bytes and type(data) is not bytearray:
        data = flat(data)
    tables = _TABLES
    if tables is None or len(data) < _TABLE_MIN:
        dest += _pure_mask(data, key, offset)
        return
    # CPython, large: one copy into place, then each key lane translated there.
    k = _key(key, offset)
    pos = len(dest)
    dest += data
    dest[pos::4] = dest[pos::4].translate(tables[k[0]])
    dest[pos + 1 :: 4] = dest[pos + 1 :: 4].translate(tables[k[1]])
    dest[pos + 2 :: 4] = dest[pos + 2 :: 4].translate(tables[k[2]])
    dest[pos + 3 :: 4] = dest[pos + 3 :: 4].translate(tables[k[3]])


class _PureBuilder:
    """One message's bytes, appended (and unmasked) as they arrive; take() gives them.

    The pure twin of _speedups.Builder: one bytearray, copied once into bytes at the end.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def append(self, data: "Buffer", key: "Optional[Buffer]" = None, offset: int = 0) -> None:
        """Append data, unmasked with the 4-byte key from `offset` when a key is given."""
        if key is None:
            if type(data) is not bytes and type(data) is not bytearray:
                data = flat(data)  # TypeError for what is not bytes-like
            self._buf += data
        else:
            _pure_mask_append(self._buf, data, key, offset)

    def take(self) -> bytes:
        """The bytes appended so far; the builder is empty afterwards."""
        out = bytes(self._buf)
        self._buf = bytearray()
        return out


def _pure_encode(b0: int, payload: "Buffer", key: "Optional[Buffer]" = None) -> bytes:
    """One frame: byte b0, the minimal length, the payload (masked, with MASK and key)."""
    if not 0 <= b0 <= 255:
        raise ValueError("b0 is a byte, 0-255")
    k = None if key is None else _key(key, 0)
    if type(payload) is not bytes and type(payload) is not bytearray:
        payload = flat(payload)
    n = len(payload)
    m = 0 if k is None else _MASKED
    if n < 126:
        head = bytes((b0, m | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if k is None:
        return head + payload
    return head + k + _pure_mask(payload, k)


def _load_speedups() -> "Any":
    # The compiled accelerator (wsproto_lite/_speedups.c) on CPython, the viper one
    # (wsproto_lite/_viper.py) on MicroPython ports with native emitters; None where
    # neither loads (no compiler at install, PyPy, the WebAssembly build) or when
    # WSPROTO_LITE_NO_SPEEDUPS is set.
    try:
        from os import getenv

        if getenv("WSPROTO_LITE_NO_SPEEDUPS"):
            return None
    except ImportError:  # MicroPython ports without os.getenv
        pass
    found: "Any"
    try:
        if MICROPYTHON:
            from . import _viper  # a SyntaxError where viper is missing

            found = _viper
        else:
            from . import _speedups

            found = _speedups
    except Exception:  # ImportError, or viper's compile error on ports without it
        return None
    for name in ("mask", "mask_append", "encode", "Builder"):
        if not hasattr(found, name):  # an accelerator older than these files
            return None
    return found


_C = _load_speedups()
#: True when an accelerator is in use: the C extension, or viper on MicroPython.
SPEEDUPS = _C is not None

if TYPE_CHECKING or _C is None:
    mask = _pure_mask
    mask_append = _pure_mask_append
    _encode = _pure_encode
    Builder = _PureBuilder
else:
    mask = _C.mask
    mask_append = _C.mask_append
    _encode = _C.encode
    Builder = _C.Builder
unmask = mask
# FrameParser._next() returns this when it consumed a piece and has nothing to give yet
# (a fragment went into the message being assembled): call it again.
_AGAIN = ()


class Frame:
    """One frame, or with `frame_finished=False` a piece of one that is still arriving.

    `rsv` holds the three RSV bits as an int (RSV1 = 4, RSV2 = 2, RSV3 = 1).
    """

    __slots__ = ("opcode", "payload", "fin", "rsv", "frame_finished")

    def __init__(
        self,
        opcode: int,
        payload: bytes = b"",
        fin: bool = True,
        rsv: int = 0,
        frame_finished: bool = True,
    ) -> None:
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.rsv = rsv
        self.frame_finished = frame_finished

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Frame
            and self.opcode == other.opcode
            and self.payload == other.payload
            and self.fin == other.fin
            and self.rsv == other.rsv
            and self.frame_finished == other.frame_finished
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return "Frame(opcode=%r, payload=%r, fin=%r, rsv=%r, frame_finished=%r)" % (
            self.opcode,
            self.payload,
            self.fin,
            self.rsv,
            self.frame_finished,
        )


def encode_frame(
    opcode: int,
    payload: "Buffer" = b"",
    fin: bool = True,
    rsv: int = 0,
    mask_key: "Optional[Buffer]" = None,
) -> bytes:
    """Serialise one valid frame; a client passes a fresh 4-byte `mask_key` for every frame.

    Raises LocalProtocolError for what RFC 6455 forbids a sender: a reserved opcode, a
    fragmented or oversized control frame, RSV bits beyond 3 bits, a key that is not 4 bytes.
    """
    if opcode > 15 or opcode < 0 or (2 < opcode < 8) or opcode > 10:
        raise LocalProtocolError("opcode %r is reserved" % (opcode,))
    if type(payload) is not bytes and type(payload) is not bytearray:
        payload = flat(payload)  # len() in bytes, whatever the buffer's item size
    n = len(payload)
    if opcode >= 8 and (n > _MAX_CONTROL or not fin):
        raise LocalProtocolError("control frames carry at most 125 bytes and are never fragmented")
    if rsv & ~7:
        raise LocalProtocolError("rsv holds three bits")
    b0 = (_FIN if fin else 0) | (rsv << 4) | opcode
    if mask_key is not None and len(mask_key) != 4:
        raise LocalProtocolError("a masking key is 4 bytes")
    # Header, key and payload in one buffer: no concatenation of a large payload.
    return _encode(b0, payload, mask_key)


def encode_text(text: str) -> bytes:
    """UTF-8 of text from the application; LocalProtocolError if it has a lone surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeError:
        raise LocalProtocolError("text with a lone surrogate cannot be sent as UTF-8") from None


def encode_close_payload(code: "Optional[int]" = None, reason: "Optional[str]" = None) -> bytes:
    """The payload of a close frame; code None (or 1005, "no status") gives an empty payload.

    Raises LocalProtocolError for a code that may not go on the wire or a reason that
    does not fit in 123 bytes of UTF-8.
    """
    if code is None or code == CloseReason.NO_STATUS_RCVD:
        if reason:
            raise LocalProtocolError("a close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise LocalProtocolError("close code %r may not be sent" % (code,))
    data = struct.pack("!H", code)
    if reason:
        data += encode_text(reason)
        if len(data) > _MAX_CONTROL:
            raise LocalProtocolError("close reason over 123 bytes of UTF-8")
    return data


def lenient_close(
    code: "Optional[int]", reason: "Optional[str]"
) -> "Tuple[Optional[int], Optional[str]]":
    """wsproto's fix-ups of a close to send: 1006 and 1015 become 1000, the reason is cut.

    1006 and 1015 only ever describe a connection that ended without a close frame, so
    they may not be sent; wsproto sends 1000 instead, keeping the reason. A reason over
    123 bytes of UTF-8 is cut at the last whole character that fits.
    """
    if code == 1006 or code == 1015:
        code = CloseReason.NORMAL_CLOSURE
    if reason and len(reason) > 30:  # 30 characters are at most 120 bytes of UTF-8
        data = encode_text(reason)
        if len(data) > _MAX_CONTROL - 2:
            data = data[: _MAX_CONTROL - 2]
            # Step back over continuation bytes (10xxxxxx) to a character's first byte;
            # that character is cut off unless it ended exactly at the limit.
            end = len(data)
            while end and data[end - 1] & 0xC0 == 0x80:
                end -= 1
            lead = data[end - 1] if end else 0
            need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            if len(data) - (end - 1) < need:
                data = data[: end - 1]
            reason = data.decode("utf-8")
    return code, reason


def parse_close_payload(payload: "Buffer") -> "Tuple[int, str]":
    """Return (code, reason) of a received close frame; an empty payload gives (1005, "").

    Raises RemoteProtocolError (1002) for a 1-byte payload or an invalid code, and
    InvalidUTF8 (1007) for a reason that is not UTF-8 (RFC 6455 §5.5.1, §7.4).
    """
    n = len(payload)
    if n == 0:
        return CloseReason.NO_STATUS_RCVD, ""
    if n == 1:
        raise RemoteProtocolError("close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):
        raise RemoteProtocolError("invalid close code %d" % code)
    try:
        reason = decode_utf8(bytes(payload[2:]))
    except UnicodeError:
        raise InvalidUTF8("close reason is not valid UTF-8") from None
    if HAVE_ENUM and code in _KNOWN_CODES:
        code = CloseReason(code)  # as wsproto reports known codes
    return code, reason


class FrameParser:
    """Incremental parser: feed() bytes in any chunking, then next_frame() until None.

    Args:
        expect_mask: True on the server side (client frames must be masked), False on
            the client side (server frames must not be).
        max_frame_size / max_message_size: limits on payload bytes, checked when the
            header arrives, before any payload is stored; None means no limit.
        allowed_rsv: the RSV bits (RSV1 = 4, RSV2 = 2, RSV3 = 1) that a negotiated
            extension claims; any other RSV bit fails the frame.
        stream_payload: give an incomplete data frame's payload out in pieces as it
            arrives (frames with frame_finished=False) instead of waiting for all of it.
        assemble: give binary messages out whole, as one frame (opcode BINARY, fin): each
            piece of each of their frames is unmasked straight onto the end of one
            buffer (a Builder) as it arrives. The buffer holds what arrived, never what
            a header only announced. Text messages and control frames come as without
            it. Meant for no-extension connections.

    The parser stops at the first error: next_frame() raises it and every later call
    raises it again; the bytes after the bad header are never looked at.
    """

    # Starting values, as class attributes until changed (see _compat.own_defaults).
    expect_mask = True
    max_frame_size = _UNLIMITED
    max_message_size = _UNLIMITED
    allowed_rsv = 0
    stream_payload = False
    assemble = False
    _buf: "Buffer" = b""
    _pos = 0
    # Room left in the fragmented data message under way (None: no message under way).
    _room: "Optional[int]" = None
    _error: "Optional[RemoteProtocolError]" = None
    # The data frame being streamed: [opcode, fin, rsv, key, payload bytes still due,
    # bytes given so far (for the mask's key rotation)].
    _partial: "Optional[List[Any]]" = None
    # The binary message being assembled (assemble=True), its bytes so far.
    _msg: "Optional[Any]" = None

    def __init__(
        self,
        expect_mask: bool,
        max_frame_size: "Optional[int]" = None,
        max_message_size: "Optional[int]" = None,
        allowed_rsv: int = 0,
        stream_payload: bool = False,
        assemble: bool = False,
    ) -> None:
        own_defaults(self, _PARSER_STATE)
        # Only what differs from the class defaults is stored (MicroPython's memory).
        if not expect_mask:
            self.expect_mask = False
        if max_frame_size is not None:
            self.max_frame_size = max_frame_size
        if max_message_size is not None:
            self.max_message_size = max_message_size
        if allowed_rsv:
            self.allowed_rsv = allowed_rsv
        if stream_payload and not self.stream_payload:
            self.stream_payload = True
        if assemble:
            self.assemble = True

    def feed(self, data: "Buffer") -> None:
        """Append bytes from the network."""
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
        else:
            # Keep the unread tail; grow a bytearray so a big frame arriving in many
            # chunks is not copied again on every feed.
            if pos:
                buf = buf[pos:]
            if type(buf) is not bytearray:
                buf = bytearray(buf)
            buf += data
            self._buf = buf
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (bounded by a header plus one feed())."""
        return len(self._buf) - self._pos

    @property
    def due(self) -> int:
        """Bytes still to come before the frame under way is complete (0: none is, or it
        is complete, or only part of its header is here). Bounded by the limits: a header
        over them is an error, and then 0."""
        if self._error is not None:
            return 0
        partial = self._partial
        buf = self._buf
        avail = len(buf) - self._pos
        if partial is not None:
            left = partial[4] - avail
            return left if left > 0 else 0
        if avail < 2:
            return 0
        pos = self._pos
        b1 = buf[pos + 1]
        length = b1 & _LEN7
        head = 2
        if length == 126:
            if avail < 4:
                return 0
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif length == 127:
            if avail < 10:
                return 0
            (length,) = struct.unpack_from("!Q", buf, pos + 2)
            head = 10
        if buf[pos] & _OPCODE < 8:
            room = self.max_message_size if self._room is None else self._room
            if length > room or length > self.max_frame_size:
                return 0  # not parsed yet, and refused when it is
        elif length > _MAX_CONTROL:
            return 0
        if b1 & _MASKED:
            head += 4
        left = head + length - avail
        return left if left > 0 else 0

    @property
    def remaining(self) -> int:
        """Payload bytes still due of the data frame being streamed (0 between frames)."""
        partial = self._partial
        return 0 if partial is None else partial[4]

    def next_frame(self) -> "Optional[Frame]":
        """Return the next frame (or frame piece), or None until more bytes arrive."""
        t = self._next()
        while t is _AGAIN:
            t = self._next()
        if t is None:
            return None
        return Frame(t[0], t[1], t[2], t[3], t[4])

    def drop_message(self) -> None:
        """Let go of the message being assembled (the connection is ending)."""
        self._msg = None

    def _next(self) -> "Optional[Tuple[Any, ...]]":
        # next_frame() as a tuple (opcode, payload, fin, rsv, frame_finished): the
        # connection's hot loop skips building a Frame object per frame. _AGAIN when a
        # piece went into the message being assembled and there may be more to parse.
        if self._error is not None:
            raise self._error
        if self._partial is not None:
            return self._continue_partial()
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            if not avail and pos:  # all read: let the last feed's bytes go
                self._buf = b""
                self._pos = 0
            return None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        opcode = b0 & _OPCODE
        fin = (b0 & _FIN) != 0
        rsv = (b0 & _RSV) >> 4
        length = b1 & _LEN7
        try:
            if rsv & ~self.allowed_rsv:
                raise RemoteProtocolError("RSV bits 0x%x set without an extension" % rsv)
            if opcode >= 8:
                if opcode > 10:
                    raise RemoteProtocolError("reserved opcode 0x%x" % opcode)
                if not fin:
                    raise RemoteProtocolError("fragmented control frame")
                if length > _MAX_CONTROL:
                    raise RemoteProtocolError("control frame payload over 125 bytes")
            elif opcode > 2:
                raise RemoteProtocolError("reserved opcode 0x%x" % opcode)
            elif opcode == 0:
                if self._room is None:
                    raise RemoteProtocolError("continuation frame without a message to continue")
            elif self._room is not None:
                raise RemoteProtocolError("new data frame inside a fragmented message")
            if bool(b1 & _MASKED) != self.expect_mask:
                raise RemoteProtocolError(
                    "unmasked frame from a client"
                    if self.expect_mask
                    else "masked frame from a server"
                )
            head = 2
            if length == 126:
                if avail < 4:
                    return None
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
                if length < 126:
                    raise RemoteProtocolError("length %d not in its minimal encoding" % length)
            elif length == 127:
                if avail < 10:
                    return None
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
                if length >> 63:
                    raise RemoteProtocolError("64-bit length with the top bit set")
                if length < 65536:
                    raise RemoteProtocolError("length %d not in its minimal encoding" % length)
            if opcode < 8:
                # RFC 6455 §10.4: refuse at the header, before one payload byte is stored.
                if length > self.max_frame_size:
                    raise MessageTooBig(
                        "frame of %d bytes, limit %d" % (length, self.max_frame_size)
                    )
                # Room left in the message: all of it unless a fragmented one is under way.
                room = self.max_message_size if self._room is None else self._room
                if length > room:
                    raise MessageTooBig("message over %d bytes" % self.max_message_size)
        except RemoteProtocolError as exc:
            self._error = exc
            raise
        if self.expect_mask:
            if avail < head + 4:
                return None
            key = bytes(buf[pos + head : pos + head + 4])
            head += 4
        else:
            key = b""
        start = pos + head
        end = start + length
        if end > len(buf) and (opcode >= 8 or not self.stream_payload):
            return None  # the header is parsed again, cheaply, when the rest arrives
        if opcode < 8:
            if not fin:
                self._room = room - length
            elif self._room is not None:
                self._room = None  # the message's last frame
            # A binary message still to complete goes into one Builder, piece by piece.
            if opcode == 2 and self.assemble and (not fin or end > len(buf)):
                self._msg = Builder()
        if end > len(buf) or (opcode < 8 and self._msg is not None):
            self._pos = start
            self._partial = [opcode, fin, rsv, key, length, 0]
            return self._continue_partial()
        if end == len(buf):  # all read: let the bytes go now, not at the next call
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        if not key:
            payload = bytes(buf[start:end])
        elif length <= _SMALL and _C is None:  # the pure path's short payloads, inline
            payload = _mask_small(buf[start:end], int.from_bytes(key, "little"))
        else:
            payload = mask(buf[start:end], key)
        return opcode, payload, fin, rsv, True

    def _continue_partial(self) -> "Optional[Tuple[Any, ...]]":
        partial = self._partial
        assert partial is not None
        opcode, fin, rsv, key, remaining, offset = partial
        buf = self._buf
        pos = self._pos
        take = len(buf) - pos
        if take > remaining:
            take = remaining
        if take == 0 and remaining:
            return None
        end = pos + take
        # The whole read is payload (the common case for a large frame): no slice copy.
        piece = buf if not pos and end == len(buf) else buf[pos:end]
        msg = self._msg
        if msg is not None:
            msg.append(piece, key or None, offset)
            payload = b""
        elif key:
            payload = mask(piece, key, offset)
        else:
            payload = bytes(piece)
        if end == len(buf):  # all read: let the bytes go now
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        remaining -= take
        if remaining:
            partial[4] = remaining
            partial[5] = offset + take
            return None if msg is not None else (opcode, payload, fin, rsv, False)
        self._partial = None
        if msg is None:
            return opcode, payload, fin, rsv, True
        if not fin:
            return _AGAIN
        self._msg = None
        return 2, msg.take(), True, 0, True


def build_frame(
    opcode: int,
    payload: "Buffer" = b"",
    fin: bool = True,
    rsv: int = 0,
    mask_key: "Optional[Buffer]" = None,
    length: "Optional[int]" = None,
    length_size: "Optional[int]" = None,
) -> bytes:
    """Build any frame, valid or not, to test how another implementation copes.

    Args:
        opcode: 0-15, reserved ones included.
        rsv: the three RSV bits as an int 0-7.
        mask_key: 4 bytes to mask with (and set the MASK bit), or None for no mask.
        length: the payload length to claim, true or not (default: the real one).
        length_size: how to encode the length: 0 (7-bit field), 2 (16-bit) or 8 (64-bit),
            minimal or not (default: minimal). With 0 the claim must fit in 7 bits.
    """
    claim = len(payload) if length is None else length
    if length_size is None:
        length_size = 0 if claim < 126 else 2 if claim < 65536 else 8
    b0 = (_FIN if fin else 0) | ((rsv & 7) << 4) | (opcode & 15)
    m = _MASKED if mask_key is not None else 0
    if length_size == 0:
        if not 0 <= claim <= 127:
            raise ValueError("a 7-bit length field holds 0-127")
        head = bytes((b0, m | claim))
    elif length_size == 2:
        head = struct.pack("!BBH", b0, m | 126, claim)
    elif length_size == 8:
        head = struct.pack("!BBQ", b0, m | 127, claim)
    else:
        raise ValueError("length_size is 0, 2 or 8")
    if mask_key is None:
        return head + bytes(payload)
    return head + bytes(mask_key) + mask(payload, mask_key)


def chop(data: "Buffer", size: int = 1) -> "List[bytes]":
    """Split bytes into pieces of `size` bytes (the last may be shorter), to feed slowly."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [bytes(data[i : i + size]) for i in range(0, len(data), size)]
