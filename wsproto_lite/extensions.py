"""WebSocket extensions: the `Extension` interface and permessage-deflate (RFC 7692).

Same method names and meanings as wsproto's `Extension` and `PerMessageDeflate`, so code
written for wsproto ports by changing the import. Imports nothing MicroPython lacks: no
`abc`, no `typing` at run time, and `zlib` only when a message needs it (where no usable
`zlib` exists, PerMessageDeflate offers and accepts nothing).
"""

from ._compat import TYPE_CHECKING, const
from .errors import BadCompressedData, MessageTooBig, RemoteProtocolError
from .events import RejectConnection

if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, Optional, Tuple, Type, Union


class RsvBits:
    """The three RSV bits of a frame header (RFC 6455 §5.2), as booleans.

    Behaves like wsproto's `RsvBits` named tuple where code relies on it: it unpacks,
    indexes and compares equal to a 3-tuple of the same bools.
    """

    __slots__ = ("rsv1", "rsv2", "rsv3")

    def __init__(self, rsv1: bool = False, rsv2: bool = False, rsv3: bool = False) -> None:
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

    @staticmethod
    def from_int(bits: int) -> "RsvBits":
        """From the int form frames.py uses: RSV1 = 4, RSV2 = 2, RSV3 = 1."""
        return RsvBits(bool(bits & 4), bool(bits & 2), bool(bits & 1))

    def to_int(self) -> int:
        """To the int form frames.py uses: RSV1 = 4, RSV2 = 2, RSV3 = 1."""
        return (4 if self.rsv1 else 0) | (2 if self.rsv2 else 0) | (1 if self.rsv3 else 0)

    def _tuple(self) -> "Tuple[bool, bool, bool]":
        return (self.rsv1, self.rsv2, self.rsv3)

    def __iter__(self) -> "Iterator[bool]":
        return iter(self._tuple())

    def __getitem__(self, index: int) -> bool:
        return self._tuple()[index]

    def __len__(self) -> int:
        return 3

    def __eq__(self, other: object) -> bool:
        # A tuple compares too: wsproto's RsvBits is a NamedTuple.
        if type(other) is RsvBits:
            return self._tuple() == other._tuple()
        if type(other) is tuple:
            return self._tuple() == other
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return self.to_int()

    def __repr__(self) -> str:
        return "RsvBits(rsv1=%r, rsv2=%r, rsv3=%r)" % self._tuple()


class Extension:
    """Base of a negotiable extension (RFC 6455 §9); subclasses set `name` and override.

    Handshake side: the client calls `offer()` and, once the server answered,
    `finalize(accepted)`; the server calls `accept(offer)` for each offer of this
    extension's name, until one is accepted. Frame side (once negotiated and
    `enabled()`): the Connection calls the `frame_*` hooks; a hook returns an int close
    code instead of its usual result to fail the connection with that code.
    """

    __slots__ = ()  # so PerMessageDeflate's slots hold (subclasses may still add a dict)

    name: str

    def enabled(self) -> bool:
        """Whether negotiation switched this extension on for the connection."""
        return False

    def offer(self) -> "Union[bool, str]":
        """Client: the parameters to offer ("" or True for none), or False to offer nothing."""
        raise NotImplementedError("Extension.offer")

    def accept(self, offer: str) -> "Optional[Union[bool, str]]":
        """Server: the parameters to answer `offer` (the client's "name; params" string).

        A str (maybe "") or True accepts; None or False declines this offer.
        """
        return None

    def finalize(self, offer: str) -> None:
        """Client: the server accepted, with this "name; params" string."""

    def frame_inbound_header(
        self, proto: "Any", opcode: int, rsv: RsvBits, payload_length: int
    ) -> "Union[RsvBits, int]":
        """A frame header arrived: the RSV bits this extension claims, or a close code."""
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: "Any", data: bytes) -> "Union[bytes, int]":
        """Payload bytes of the current frame: the transformed bytes, or a close code."""
        return data

    def frame_inbound_complete(self, proto: "Any", fin: bool) -> "Optional[Union[bytes, int]]":
        """The current frame ended: bytes to append to its payload, None, or a close code."""
        return None

    def frame_outbound(
        self, proto: "Any", opcode: int, rsv: RsvBits, data: bytes, fin: bool
    ) -> "Tuple[RsvBits, bytes]":
        """A frame is about to be sent: its RSV bits and payload, transformed."""
        return (rsv, data)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, getattr(self, "name", "?"))


# -- permessage-deflate (RFC 7692) -------------------------------------------------------

_TAIL = b"\x00\x00\xff\xff"  # §7.2.1: the end of a sync flush, taken off and put back
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # an empty final block: completes only at a block boundary
_STEP = const(65536)  # inflate at most this much per zlib call when a limit applies
_SLICE = const(16384)  # and feed zlib at most this much input per call
_JOIN_MAX = const(16384)  # a last frame up to this size is inflated with the tail in one go
_PARAMS = (
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
)
_zlib_module: "Any" = None
# PerMessageDeflate._flags
_CLIENT_NCT = const(1)
_SERVER_NCT = const(2)
_ENABLED = const(4)
_OUTBOUND = const(8)
_INBOUND = const(0x30)  # 0, 1 or 2 (see _inbound_compressed), shifted by 4
_TERMS: "Dict[Any, Any]" = {}  # one tuple per set of terms asked for, shared


def _zlib() -> "Any":
    """The zlib module if it can do permessage-deflate here, else False (cached)."""
    global _zlib_module
    if _zlib_module is None:
        try:
            import zlib

            # MicroPython's zlib (WebAssembly build) has neither; its unix port's
            # `deflate` module cannot inflate a sync-flushed stream (EOFError).
            ok = hasattr(zlib, "compressobj") and hasattr(zlib, "decompressobj")
        except ImportError:
            ok = False
        _zlib_module = zlib if ok else False
    return _zlib_module


def _check_after_final(unused: bytes, tail: bool) -> None:
    # §7.2.3.4: a message may end its stream with a final block; then only the header
    # byte of an empty stored block (0x00) may follow, and the tail we put back.
    if tail and unused.endswith(_TAIL):
        unused = unused[:-4]
    if unused and unused != b"\x00":
        raise BadCompressedData("compressed data after the final deflate block")


class _BadParams(Exception):
    pass


def _parse_params(value: str, response: bool) -> "Dict[str, Optional[int]]":
    """The parameters of one "permessage-deflate; ..." element, checked (RFC 7692 §7.1).

    Maps each parameter given to its int value (None when it has none). Raises _BadParams
    for an unknown or repeated parameter, a value where none belongs, a missing or bad
    window size (a decimal 8-15 without leading zeros, maybe quoted).
    """
    parts = value.split(";")
    if parts[0].strip() != PerMessageDeflate.name:
        raise _BadParams("not a permessage-deflate element")
    params: "Dict[str, Optional[int]]" = {}
    for part in parts[1:]:
        name, eq, raw = part.partition("=")
        name = name.strip()
        raw = raw.strip()
        if name not in _PARAMS:
            raise _BadParams("unknown parameter %r" % name)
        if name in params:
            raise _BadParams("parameter %s given twice" % name)
        bits: "Optional[int]" = None
        if name.endswith("no_context_takeover"):
            if eq:
                raise _BadParams("%s takes no value" % name)
        elif eq:
            if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
                raw = raw[1:-1]  # §7.1: a quoted-string value is unquoted first
            if not (raw in ("8", "9") or raw in ("10", "11", "12", "13", "14", "15")):
                raise _BadParams("%s=%s: not 8 to 15" % (name, raw))
            bits = int(raw)
        elif response or name == "server_max_window_bits":
            # §7.1.2.1: server_max_window_bits always has a value; §7.1.2.2: so does
            # client_max_window_bits in a response (only an offer may leave it bare).
            raise _BadParams("%s needs a value" % name)
        params[name] = bits
    return params


def _check_bits(name: str, value: "Optional[int]") -> "Optional[int]":
    if value is not None and (type(value) is not int or not 8 <= value <= 15):
        raise ValueError("%s must be between 8 and 15 inclusive, not %r" % (name, value))
    return value


class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692), wsproto's class and parameters, bounded and lazy.

    The four parameters are what this end asks for: a client offers them, a server
    imposes them on any offer it accepts (`*_max_window_bits` None: no limit asked, up
    to 15 bits). After negotiation the attributes hold what was agreed.

    Beyond wsproto: the compressor and the decompressor are made at the first message
    that needs each (an idle connection holds no zlib state) and dropped after each
    message where no context takeover was agreed; inflating stops one byte past the
    connection's `max_message_size`, so a bomb costs at most the limit; malformed offers
    are declined and malformed answers fail the handshake, as §5 and §7 say; control
    frames between compressed fragments never touch the inflater.

    Args (keyword only, beyond wsproto's): `compress_level` (zlib level, default 6) and
    `mem_level` (zlib memLevel 1-9, default 8): the compressor's speed and memory.
    """

    name = "permessage-deflate"
    # Connection lifts the parser's message limit on the wire: this holds it, exactly,
    # on the inflated size (and on an uncompressed message's size, at each frame header).
    _holds_message_limit = True

    DEFAULT_CLIENT_MAX_WINDOW_BITS = 15
    DEFAULT_SERVER_MAX_WINDOW_BITS = 15

    # CPython: a negotiated connection keeps its extension as long as it lives, so it is
    # seven slots (about 100 bytes): the flags in one int, the terms asked for in a tuple
    # shared by every extension asking for the same. MicroPython ignores slots, and never
    # enables the extension.
    __slots__ = (
        "_flags",
        "_terms",
        "_client_max_window_bits",
        "_server_max_window_bits",
        "_compressor",
        "_decompressor",
        "_inflated",
    )

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: "Optional[int]" = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: "Optional[int]" = None,
        *,
        compress_level: int = 6,
        mem_level: int = 8,
    ) -> None:
        if type(compress_level) is not int or not -1 <= compress_level <= 9:
            raise ValueError("compress_level is -1 to 9, not %r" % (compress_level,))
        if type(mem_level) is not int or not 1 <= mem_level <= 9:
            raise ValueError("mem_level is 1 to 9, not %r" % (mem_level,))
        terms = (
            _check_bits("client_max_window_bits", client_max_window_bits),
            _check_bits("server_max_window_bits", server_max_window_bits),
            compress_level,
            mem_level,
        )
        self._terms: "Tuple[Optional[int], Optional[int], int, int]" = _TERMS.setdefault(
            terms, terms
        )
        self._flags = (_CLIENT_NCT if client_no_context_takeover else 0) | (
            _SERVER_NCT if server_no_context_takeover else 0
        )
        self._client_max_window_bits = client_max_window_bits or 15
        self._server_max_window_bits = server_max_window_bits or 15
        # Made at the first message that needs each (an idle connection holds no zlib
        # state), dropped after each message where no context takeover was agreed.
        self._compressor: "Any" = None
        self._decompressor: "Any" = None
        self._inflated = 0  # bytes inflated so far in the message being received

    def _flag(self, bit: int) -> bool:
        return bool(self._flags & bit)

    def _set_flag(self, bit: int, on: bool) -> None:
        self._flags = (self._flags | bit) if on else (self._flags & ~bit)

    @property
    def client_no_context_takeover(self) -> bool:
        """The client resets its compressor after each message (asked for, then agreed)."""
        return bool(self._flags & _CLIENT_NCT)

    @client_no_context_takeover.setter
    def client_no_context_takeover(self, on: bool) -> None:
        self._set_flag(_CLIENT_NCT, on)

    @property
    def server_no_context_takeover(self) -> bool:
        """The server resets its compressor after each message (asked for, then agreed)."""
        return bool(self._flags & _SERVER_NCT)

    @server_no_context_takeover.setter
    def server_no_context_takeover(self, on: bool) -> None:
        self._set_flag(_SERVER_NCT, on)

    @property
    def compress_level(self) -> int:
        """zlib's compression level for what this end sends."""
        return self._terms[2]

    @property
    def mem_level(self) -> int:
        """zlib's memLevel for this end's compressor (1-9: memory against speed)."""
        return self._terms[3]

    @property
    def _client_bits_asked(self) -> "Optional[int]":
        return self._terms[0]

    @property
    def _server_bits_asked(self) -> "Optional[int]":
        return self._terms[1]

    @property
    def _enabled(self) -> bool:
        return bool(self._flags & _ENABLED)

    @_enabled.setter
    def _enabled(self, on: bool) -> None:  # wsproto's tests set it
        self._set_flag(_ENABLED, on)

    @property
    def _inbound_compressed(self) -> int:
        # The message being received: 0 plain, 1 compressed (no byte yet), 2 compressed.
        return (self._flags >> 4) & 3

    @_inbound_compressed.setter
    def _inbound_compressed(self, state: int) -> None:
        self._flags = (self._flags & ~_INBOUND) | (int(state) << 4)

    @property
    def _outbound_compressed(self) -> bool:
        # The message being sent is compressed (wsproto's hooks only).
        return bool(self._flags & _OUTBOUND)

    @_outbound_compressed.setter
    def _outbound_compressed(self, on: bool) -> None:
        self._set_flag(_OUTBOUND, on)

    def copy(self) -> "PerMessageDeflate":
        """A new, unnegotiated extension asking for the same terms (one per connection)."""
        client_bits, server_bits, level, mem_level = self._terms
        return type(self)(
            self.client_no_context_takeover,
            client_bits,
            self.server_no_context_takeover,
            server_bits,
            compress_level=level,
            mem_level=mem_level,
        )

    @property
    def client_max_window_bits(self) -> int:
        """The client's LZ77 window, as a power of two (asked for, then agreed)."""
        return self._client_max_window_bits

    @client_max_window_bits.setter
    def client_max_window_bits(self, value: int) -> None:
        _check_bits("client_max_window_bits", value)
        self._client_max_window_bits = value

    @property
    def server_max_window_bits(self) -> int:
        """The server's LZ77 window, as a power of two (asked for, then agreed)."""
        return self._server_max_window_bits

    @server_max_window_bits.setter
    def server_max_window_bits(self, value: int) -> None:
        _check_bits("server_max_window_bits", value)
        self._server_max_window_bits = value

    def enabled(self) -> bool:
        """Whether negotiation agreed on the extension for this connection."""
        return self._enabled

    # -- negotiation (RFC 7692 §5, §7.1) -------------------------------------------------

    def offer(self) -> "Union[bool, str]":
        """Client: the parameters offered; False (nothing offered) where zlib is unusable.

        client_max_window_bits always goes out (bare unless a size was asked for), so the
        server may limit our window; server_max_window_bits only when asked for, since a
        server must then answer with it.
        """
        if not _zlib():
            return False
        params = []
        if self._client_bits_asked is None:
            params.append("client_max_window_bits")
        else:
            params.append("client_max_window_bits=%d" % self._client_bits_asked)
        if self._server_bits_asked is not None:
            params.append("server_max_window_bits=%d" % self._server_bits_asked)
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        return "; ".join(params)

    def accept(self, offer: str) -> "Optional[Union[bool, str]]":
        """Server: the answer to one offer ("permessage-deflate; ..."), or None to decline.

        Declines (§5: the server then tries the client's next offer) an offer with an
        unknown, repeated or malformed parameter, and any offer where zlib is unusable.
        """
        if not _zlib():
            return None
        try:
            params = _parse_params(offer, response=False)
        except _BadParams:
            return None
        server_nct = self.server_no_context_takeover or "server_no_context_takeover" in params
        client_nct = self.client_no_context_takeover or "client_no_context_takeover" in params
        answer = []
        if client_nct:
            answer.append("client_no_context_takeover")
        if server_nct:
            answer.append("server_no_context_takeover")
        # §7.1.2.2: the client's window may be limited only if it offered the parameter.
        client_bits = 15
        if "client_max_window_bits" in params:
            client_bits = min(params["client_max_window_bits"] or 15, self._client_bits_asked or 15)
            answer.append("client_max_window_bits=%d" % client_bits)
        # §7.1.2.1: a limit the client asks for on our window is answered, equal or lower.
        server_bits = self._server_bits_asked
        offered = params.get("server_max_window_bits")
        if offered is not None:
            server_bits = min(offered, server_bits or 15)
        if server_bits is not None:
            answer.append("server_max_window_bits=%d" % server_bits)
        self.client_no_context_takeover = client_nct
        self.server_no_context_takeover = server_nct
        self._client_max_window_bits = client_bits
        self._server_max_window_bits = server_bits or 15
        self._enabled = True
        return "; ".join(answer)

    def finalize(self, offer: str) -> None:
        """Client: the server accepted with this answer; check it and take its terms.

        Raises RemoteProtocolError (the handshake fails, §5 and §7.1) for a malformed
        answer, one that limits a window we did not let it limit or beyond what we asked,
        or one that leaves out server_no_context_takeover or server_max_window_bits after
        we asked for them.
        """
        try:
            params = _parse_params(offer, response=True)
            asked = self._server_bits_asked
            server_bits = params.get("server_max_window_bits")
            if asked is not None and (server_bits is None or server_bits > asked):
                raise _BadParams("server_max_window_bits above the %d asked for" % asked)
            if self.server_no_context_takeover and "server_no_context_takeover" not in params:
                raise _BadParams("server_no_context_takeover was asked for and not agreed")
            client_bits = params.get("client_max_window_bits")
            offered = self._client_bits_asked or 15
            if client_bits is not None and client_bits > offered:
                raise _BadParams(
                    "client_max_window_bits %d above the %d offered" % (client_bits, offered)
                )
        except _BadParams as exc:
            raise RemoteProtocolError(
                "bad permessage-deflate answer %r: %s" % (offer, exc), RejectConnection()
            ) from None
        if "client_no_context_takeover" in params:
            self.client_no_context_takeover = True
        if "server_no_context_takeover" in params:
            self.server_no_context_takeover = True
        self._client_max_window_bits = client_bits or self._client_bits_asked or 15
        self._server_max_window_bits = server_bits or 15
        self._enabled = True

    # -- frames (RFC 7692 §6) ------------------------------------------------------------

    def _peer_bits(self, proto: "Any") -> int:
        bits = self._server_max_window_bits if proto.client else self._client_max_window_bits
        # An inflater window of 8 bits would refuse what zlib-based peers send after
        # agreeing to 8 (zlib compresses with 9 then); a larger window refuses nothing.
        return 9 if bits == 8 else bits

    # The Connection calls _inbound() and _outbound() directly (one call a frame, no
    # RsvBits objects: about half the cost of a small message); wsproto's hooks below
    # are the same logic for code that drives an extension through them.

    def _inbound(
        self,
        proto: "Any",
        opcode: int,
        payload: bytes,
        fin: bool,
        rsv: int,
        done: bool,
        first: bool,
        length: int = 0,
    ) -> bytes:
        """A data frame, or a piece of one (`first`: its header is new), in: the bytes it
        stands for. Raises RemoteProtocolError (1002: RSV bits where they may not be),
        BadCompressedData (1007) or MessageTooBig (1009, past the inflated limit).
        """
        if not first:
            compressed = self._inbound_compressed
        elif opcode:
            if rsv & 3:
                raise RemoteProtocolError("RSV bits 0x%x set without an extension" % rsv)
            compressed = self._inbound_compressed = 1 if rsv == 4 else 0
            self._inflated = 0
        elif rsv:
            raise RemoteProtocolError("RSV bits 0x%x set on a continuation frame" % rsv)
        else:
            compressed = self._inbound_compressed
        limit = proto.max_message_size
        if not compressed:
            # Held here, as the parser leaves the message limit to us: at a frame's first
            # piece its announced `length` (the rest of the frame) is checked already.
            if limit is not None:
                size = self._inflated + len(payload)
                if size > limit or (first and self._inflated + length > limit):
                    raise MessageTooBig("message over %d bytes" % limit)
                self._inflated = size
            return payload
        if fin and done:
            self._inbound_compressed = 0
            if payload and len(payload) <= _JOIN_MAX:
                # The message's last bytes and the sync tail in one call (one copy of at
                # most 16 KiB, against a second pass through zlib).
                out = self._inflate(proto, payload + _TAIL, limit, True)
                return out + self._end_inbound(proto, limit, True)
            out = self._inflate(proto, payload, limit, False) if payload else b""
            if payload or compressed == 2:
                out += self._end_inbound(proto, limit, False)
            # else: RSV1 on a message with no payload at all is an empty message.
            return out
        if payload:
            self._inbound_compressed = 2  # some compressed bytes came
            return self._inflate(proto, payload, limit, False)
        return payload

    def _inflate(
        self, proto: "Any", data: "Union[bytes, bytearray]", limit: "Any", tail: bool
    ) -> bytes:
        z = _zlib()
        d = self._decompressor
        if d is None:
            # Made at the first compressed message, never at the handshake.
            d = self._decompressor = z.decompressobj(-self._peer_bits(proto))
        elif d.eof:
            d.decompress(data)  # after the stream's end: only kept, as unused_data
            _check_after_final(d.unused_data, tail)
            return b""
        out: bytes
        try:
            if limit is None:
                out = d.decompress(data)
            else:
                # Stop one byte past the room left: a bomb costs the limit and a few
                # steps, no more. Input goes in slices, so what zlib keeps unconsumed
                # (and copies at each step) stays small; output comes in steps, as zlib
                # copies its output buffer once at the end of each call.
                room = limit - self._inflated
                n = len(data)
                view = data if n <= _SLICE else memoryview(data)
                asked = room + 1 if room < _STEP else _STEP
                out = d.decompress(view[:_SLICE], asked)
                got = len(out)
                pos = _SLICE
                # A full output buffer may leave output inside zlib even with no input
                # left unconsumed: ask again (with no input) until a call comes back short.
                full = got == asked
                if got <= room and (pos < n or d.unconsumed_tail or full):
                    chunks = [out]
                    while got <= room:
                        pending = d.unconsumed_tail
                        if pending:
                            piece: "Any" = pending
                        elif full:
                            piece = b""
                        elif pos < n:
                            piece = view[pos : pos + _SLICE]
                            pos += _SLICE
                        else:
                            break
                        want = room + 1 - got
                        asked = want if want < _STEP else _STEP
                        chunk = d.decompress(piece, asked)
                        full = len(chunk) == asked
                        chunks.append(chunk)
                        got += len(chunk)
                    if got <= room:
                        out = b"".join(chunks)
                if got > room:
                    self._decompressor = None
                    raise MessageTooBig("message over %d bytes after inflation" % limit)
        except z.error as exc:  # the stream is corrupt
            self._decompressor = None
            raise BadCompressedData("invalid compressed data (%s)" % (exc,)) from None
        if d.eof:
            _check_after_final(d.unused_data, tail)
        self._inflated += len(out)
        return out

    def _end_inbound(self, proto: "Any", limit: "Any", fed: bool) -> bytes:
        # A compressed message ended: put the sync tail back (§7.2.2) unless `fed`, and
        # check that the inflater then sits between blocks, as it must after 00 00 ff ff.
        # A truncated block swallows the tail instead; a copy fed an empty final block
        # tells which.
        d = self._decompressor
        out = b""
        if not fed and (d is None or not d.eof):
            out = self._inflate(proto, _TAIL, limit, True)
            d = self._decompressor
        if not d.eof:
            probe = d.copy()
            try:
                probe.decompress(_FINAL_EMPTY_BLOCK)
            except _zlib().error:
                pass
            if not probe.eof:
                self._decompressor = None
                raise BadCompressedData("compressed message ends inside a deflate block")
        no_takeover = (
            self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        )
        if no_takeover or d.eof:
            self._decompressor = None  # §7.2.2: the peer starts afresh, and so do we
        return out

    def _outbound(self, proto: "Any", opcode: int, data: "Any", fin: bool) -> "Tuple[int, Any]":
        """A data frame out: its RSV bits (RSV1 on a message's first frame) and payload."""
        z = _zlib()
        c = self._compressor
        if c is None:
            bits = self._client_max_window_bits if proto.client else self._server_max_window_bits
            # zlib cannot deflate raw with an 8-bit window (madler/zlib#171) and uses 9
            # when asked; matches of distance 1 only (Z_RLE) fit any agreed window.
            strategy = z.Z_RLE if bits == 8 else z.Z_DEFAULT_STRATEGY
            c = self._compressor = z.compressobj(
                self.compress_level, z.DEFLATED, -max(bits, 9), self.mem_level, strategy
            )
        # Each frame is flushed, so a streamed message's pieces can be inflated as sent.
        out = c.compress(data) + c.flush(z.Z_SYNC_FLUSH)
        if fin:
            out = out[:-4]  # §7.2.1: a sync flush always ends in 00 00 ff ff
            no_takeover = (
                self.client_no_context_takeover if proto.client else self.server_no_context_takeover
            )
            if no_takeover:
                self._compressor = None
        return (4 if opcode else 0), out

    # -- wsproto's Extension hooks ---------------------------------------------------------

    def frame_inbound_header(
        self, proto: "Any", opcode: int, rsv: RsvBits, payload_length: int
    ) -> "Union[RsvBits, int]":
        """Claims RSV1; fails (1002) RSV1 on a control frame or a continuation (§6.1)."""
        if opcode >= 8 or opcode == 0:
            if rsv.rsv1:
                return 1002
            # §6.1: a control frame between fragments changes nothing of the message.
            return RsvBits(True, False, False)
        self._inbound_compressed = 1 if rsv.rsv1 else 0
        self._inflated = 0
        if rsv.rsv1 and self._decompressor is None:
            self._decompressor = _zlib().decompressobj(-self._peer_bits(proto))
        return RsvBits(True, False, False)

    def frame_inbound_payload_data(self, proto: "Any", data: bytes) -> "Union[bytes, int]":
        """Inflates a compressed message's bytes: 1007 if corrupt, 1009 past the limit."""
        if not self._inbound_compressed or not data:
            return data
        self._inbound_compressed = 2
        try:
            return self._inflate(
                proto, bytes(data), getattr(proto, "max_message_size", None), False
            )
        except RemoteProtocolError as exc:
            return self._code_of(exc)

    def frame_inbound_complete(self, proto: "Any", fin: bool) -> "Optional[Union[bytes, int]]":
        """At a compressed message's end: puts the sync tail back and ends the message."""
        if not fin or not self._inbound_compressed:
            return None
        fed = self._inbound_compressed == 2
        self._inbound_compressed = 0
        if not fed:
            return None  # RSV1 on a message with no payload at all: an empty message
        try:
            return self._end_inbound(proto, getattr(proto, "max_message_size", None), False)
        except RemoteProtocolError as exc:
            return self._code_of(exc)

    def _code_of(self, exc: RemoteProtocolError) -> int:
        code: int = getattr(exc.event_hint, "code", 1002)
        return code

    def frame_outbound(
        self, proto: "Any", opcode: int, rsv: RsvBits, data: bytes, fin: bool
    ) -> "Tuple[RsvBits, bytes]":
        """Compresses data frames: RSV1 on a message's first frame only (§6.1)."""
        if opcode >= 8:
            return (rsv, data)
        if opcode:
            self._outbound_compressed = True
        elif not self._outbound_compressed:
            return (rsv, data)
        bits, out = self._outbound(proto, opcode, data, fin)
        if fin:
            self._outbound_compressed = False
        if bits:
            rsv = RsvBits(True, rsv.rsv2, rsv.rsv3)
        return (rsv, out)

    def __repr__(self) -> str:
        descr = ["client_max_window_bits=%d" % self._client_max_window_bits]
        if self.client_no_context_takeover:
            descr.append("client_no_context_takeover")
        descr.append("server_max_window_bits=%d" % self._server_max_window_bits)
        if self.server_no_context_takeover:
            descr.append("server_no_context_takeover")
        return "<%s %s>" % (type(self).__name__, "; ".join(descr))


#: Every extension this library implements, by name (as in wsproto).
SUPPORTED_EXTENSIONS: "Dict[str, Type[Extension]]" = {PerMessageDeflate.name: PerMessageDeflate}
