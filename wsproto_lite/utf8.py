"""Incremental, fail-fast UTF-8 decoding for text messages and close reasons.

MicroPython's bytes.decode() accepts surrogates and overlong forms, so where
`codecs` is missing a small state machine validates the bytes before decode()
converts them. Imports nothing but `codecs` (guarded); never `typing`.
"""

_HAVE_CODECS = True
try:
    from codecs import getincrementaldecoder
except ImportError:  # MicroPython
    _HAVE_CODECS = False

# ASCII runs are skipped a block at a time: one int.from_bytes() and one AND per
# block instead of a Python-level step per byte. ASCII validates at about 350 MB/s
# on CPython 3.11 (22 MB/s byte by byte) and 15-50 MB/s on the MicroPython 1.27
# WebAssembly build (1 MB/s byte by byte). A block holding any non-ASCII byte is
# walked byte by byte (~8 MB/s on CPython, ~0.5-1 MB/s on that MicroPython): 64- and
# 1024-byte blocks, and jumping to the first non-ASCII byte, were no better overall.
_BLOCK = 256
# MicroPython ports without arbitrary-precision ints truncate from_bytes() to 64 bits
# (MICROPY_LONGINT_IMPL_LONGLONG) or overflow (NONE): there every byte is walked.
try:
    _HIGH_BITS = int.from_bytes(b"\x80" * _BLOCK, "little")
    _FAST_ASCII = _HIGH_BITS.to_bytes(_BLOCK, "little") == b"\x80" * _BLOCK
except OverflowError:
    _HIGH_BITS = 0
    _FAST_ASCII = False


def _lead_tables() -> tuple[bytes, bytes, bytes]:
    # Indexed by a byte: how many continuation bytes follow it (0: it cannot start a
    # code point) and the range allowed for the first of them (RFC 3629 §4).
    need = bytearray(256)
    low = bytearray(256)
    high = bytearray(256)
    for b in range(0xC2, 0xF5):  # 0xC0, 0xC1 could only start overlong forms
        need[b] = 1 if b < 0xE0 else 2 if b < 0xF0 else 3
        low[b] = 0x80
        high[b] = 0xBF
    low[0xE0] = 0xA0  # overlong 3-byte forms
    high[0xED] = 0x9F  # surrogates U+D800..U+DFFF
    low[0xF0] = 0x90  # overlong 4-byte forms
    high[0xF4] = 0x8F  # above U+10FFFF
    return bytes(need), bytes(low), bytes(high)


_NEED, _LOW, _HIGH = _lead_tables()


class _PurePythonDecoder:
    """Incremental UTF-8 decoder that validates every byte itself.

    The default where `codecs` is missing; CPython tests instantiate it directly.
    A UnicodeError leaves the state as it was before the failing call.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget any unfinished code point."""
        self._pending = b""  # bytes of the unfinished code point, at most 3
        self._need = 0  # continuation bytes it still needs
        self._low = 0x80  # range allowed for the next continuation byte
        self._high = 0xBF
        self._size = 0  # length of the code point being read

    def decode(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        """Return the text completed so far; raise UnicodeError at the first impossible byte."""
        need = self._need
        low = self._low
        high = self._high
        size = self._size
        need_of, low_of, high_of = _NEED, _LOW, _HIGH  # locals: global lookups cost on both VMs
        view = memoryview(data)
        n = len(view)
        pos = 0
        while pos < n:
            block = view[pos : pos + _BLOCK]
            pos += _BLOCK
            if not need and _FAST_ASCII and not int.from_bytes(block, "little") & _HIGH_BITS:
                continue
            for b in block:
                if need:
                    if b < low or b > high:
                        raise UnicodeError("invalid UTF-8: unexpected byte 0x%02x" % b)
                    low = 0x80
                    high = 0xBF
                    need -= 1
                elif b > 0x7F:
                    need = need_of[b]
                    if not need:
                        raise UnicodeError("invalid UTF-8: unexpected byte 0x%02x" % b)
                    low = low_of[b]
                    high = high_of[b]
                    size = need + 1
        if need and final:
            raise UnicodeError("invalid UTF-8: truncated code point")

        pending = self._pending
        seen = size - need if need else 0  # bytes of the unfinished code point
        if seen > n:  # it started before data and is still unfinished
            self._pending = pending + bytes(view)
            text = ""
        else:
            start = 0
            head = ""
            if pending:  # data finished the previous code point
                start = self._need
                head = str(pending + bytes(view[:start]), "utf-8")
            # Validated above, so converting is safe even where decode() is lenient.
            text = head + str(view[start : n - seen], "utf-8")
            self._pending = bytes(view[n - seen :])
        self._need = need
        self._low = low
        self._high = high
        self._size = size
        return text


class Utf8Decoder(_PurePythonDecoder):
    """Incremental UTF-8 decoder that fails at the first impossible byte.

    decode() returns the text decodable so far and carries an unfinished code
    point (up to 3 bytes) to the next call. It raises UnicodeError as soon as the
    bytes seen can never be valid UTF-8 (surrogates, overlong forms, code points
    above U+10FFFF, stray continuation bytes), and with final=True also inside an
    unfinished code point. After a UnicodeError call reset() before reusing it.
    Uses CPython's codec where `codecs` exists, else _PurePythonDecoder.
    """

    def __init__(self) -> None:
        self._codec = getincrementaldecoder("utf-8")() if _HAVE_CODECS else None
        super().__init__()

    def reset(self) -> None:
        """Forget any unfinished code point."""
        super().reset()
        if self._codec is not None:
            self._codec.reset()

    def decode(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        """Return the text completed so far; raise UnicodeError at the first impossible byte."""
        codec = self._codec
        if codec is None:
            return _PurePythonDecoder.decode(self, data, final)
        text = codec.decode(data, final)
        # CPython (3.10 to 3.13) buffers ED A0..BF, the start of a surrogate, instead
        # of failing at once; every other impossible byte already raised.
        pending = codec.getstate()[0]
        if len(pending) > 1 and pending[0] == 0xED and pending[1] > 0x9F:
            raise UnicodeError("invalid UTF-8: surrogate")
        return text


def decode_utf8(data: bytes | bytearray) -> str:
    """Decode a complete UTF-8 byte string strictly (close reasons); raise UnicodeError."""
    if _HAVE_CODECS:  # CPython's (and PyPy's) decode() is strict
        return str(data, "utf-8")
    return _PurePythonDecoder().decode(data, True)
