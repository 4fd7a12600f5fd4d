"""The viper accelerator of wsproto_lite.frames on MicroPython: masking and frame encoding.

mask, mask_append, Builder and encode: the same semantics as frames.py's pure twins
(_pure_mask, _pure_mask_append, _PureBuilder, _pure_encode),
including what they refuse (TypeError, ValueError), with the XOR loop compiled by
`@micropython.viper`. Importing this module fails (SyntaxError, ValueError, ...) where the
port has no native emitter (the WebAssembly build), and frames.py then keeps the pure path.
Imports nothing but `micropython`: frames.py imports this module while frames itself is
still being imported, so nothing here may import frames back.
"""

import micropython

# Frames stay small on purpose: MicroPython keeps a call's locals and stack on the C
# stack only up to 11 words, else it allocates them on the heap, and on the unix port
# that made a 16 B encode() cost 15 us instead of 1.5 us. So each
# function has few locals, and the rarer steps sit in helpers.


@micropython.viper
def _xor(buf: ptr8, start: int, end: int, key: ptr8):  # noqa: F821
    # buf[start:end] ^= the key cycle, key[0] at buf[start]; the caller checks the bounds.
    # Words only at 4-aligned addresses: Cortex-M0 (and other cores) fault on unaligned
    # ptr32 access, and heap buffers start aligned, so the bulk of a payload goes by words.
    addr = int(buf)
    i = start
    k = 0
    while i < end and ((addr + i) & 3) != 0:
        buf[i] = buf[i] ^ key[k]
        k = (k + 1) & 3
        i += 1
    words = (end - i) >> 2
    if words > 0:
        w = ptr32(addr + i)  # noqa: F821
        # The key word in native byte order, whatever the endianness: mask the first
        # word byte by byte and take what changed.
        before = w[0]
        buf[i] = buf[i] ^ key[k]
        buf[i + 1] = buf[i + 1] ^ key[(k + 1) & 3]
        buf[i + 2] = buf[i + 2] ^ key[(k + 2) & 3]
        buf[i + 3] = buf[i + 3] ^ key[(k + 3) & 3]
        kw = before ^ w[0]
        j = 1
        while j + 4 <= words:
            w[j] = w[j] ^ kw
            w[j + 1] = w[j + 1] ^ kw
            w[j + 2] = w[j + 2] ^ kw
            w[j + 3] = w[j + 3] ^ kw
            j += 4
        while j < words:
            w[j] = w[j] ^ kw
            j += 1
        i += words << 2
    while i < end:
        buf[i] = buf[i] ^ key[k]
        k = (k + 1) & 3
        i += 1


def _key(key, offset):
    # The 4 key bytes rotated to `offset`: TypeError for a non-buffer, ValueError unless 4.
    k = key if type(key) is bytes else bytes(memoryview(key))
    if len(k) != 4:
        raise ValueError("a masking key is 4 bytes")
    if offset & 3:
        k = k[offset & 3 :] + k[: offset & 3]
    return k


def _masked(data, k):
    # The XOR runs over the copy's own length, so never past it. No big-int path for
    # short payloads: this is faster from 1 byte up (unix port, 1.27: 16 B 0.5 us vs
    # 1.1 us; benchmarks/micropython_mask.py), and needs no long ints.
    out = bytearray(data)
    _xor(out, 0, len(out), k)
    return bytes(out)


def mask(data, key, offset=0):
    """XOR data with a 4-byte key, starting `offset` bytes into the key cycle; return bytes."""
    if type(data) is not bytes and type(data) is not bytearray:
        data = memoryview(data)  # TypeError for what is not bytes-like
    k = _key(key, offset)
    n = len(data)
    if not n:
        return b""
    return _masked(data, k)


def mask_append(dest, data, key, offset=0):
    """Append `data` masked with `key` (from `offset` into its cycle) to the bytearray dest."""
    if type(dest) is not bytearray:
        raise TypeError("mask_append() appends to a bytearray")
    if type(data) is not bytes and type(data) is not bytearray:
        data = memoryview(data)
    k = _key(key, offset)
    if type(data) is memoryview:
        # It may view dest, whose buffer can move as dest grows (MicroPython's extend
        # cannot follow a view into itself): mask a copy first.
        data = bytearray(data)
        _xor(data, 0, len(data), k)
        dest += data
        return
    pos = len(dest)
    dest += data  # data may be dest itself: extend re-reads its buffer after growing
    _xor(dest, pos, len(dest), k)


class Builder:
    """One message's bytes, appended (and unmasked) as they arrive; take() gives them."""

    def __init__(self):
        self._buf = bytearray()

    def __len__(self):
        return len(self._buf)

    def append(self, data, key=None, offset=0):
        """Append data, unmasked with the 4-byte key from `offset` when a key is given."""
        if key is None:
            if type(data) is not bytes and type(data) is not bytearray:
                data = memoryview(data)  # TypeError for what is not bytes-like
            self._buf += data
        else:
            mask_append(self._buf, data, key, offset)

    def take(self):
        """The bytes appended so far; the builder is empty afterwards."""
        out = bytes(self._buf)
        self._buf = bytearray()
        return out


def encode(b0, payload, key=None):
    """One frame: byte b0, the minimal length, the payload (masked, with MASK and key)."""
    if not 0 <= b0 <= 255:
        raise ValueError("b0 is a byte, 0-255")
    if key is None:
        n = len(payload)
        return _head(b0, n) + payload
    k = _key(key, 0)
    n = len(payload)
    if type(payload) is not bytes and type(payload) is not bytearray:
        payload = memoryview(payload)
    return _masked_frame(_head(b0, n, 0x80), payload, k)


def _head(b0, n, masked=0):
    # b0 and the minimal length field (RFC 6455 5.2), with the MASK bit when masked.
    if n < 126:
        return bytes((b0, masked | n))
    if n < 65536:
        return bytes((b0, masked | 126, n >> 8, n & 255))
    return bytes((b0, masked | 127)) + n.to_bytes(8, "big")


def _masked_frame(head, payload, k):
    # One buffer: head, key, payload masked in place; the XOR bound is the buffer's end.
    h = len(head) + 4
    out = bytearray(h + len(payload))
    out[: h - 4] = head
    out[h - 4 : h] = k
    out[h:] = payload
    _xor(out, h, len(out), k)
    return bytes(out)
