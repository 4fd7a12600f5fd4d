"""Pure-Python SHA-1 (FIPS 180-4 §6.1), for ports whose hashlib lacks sha1.

Only the opening handshake needs it (RFC 6455 §4.2.2, Sec-WebSocket-Accept), so a
digest covers one or two 64-byte blocks. Imports only `struct`.
"""

import struct

_MASK = 0xFFFFFFFF


def _compress(state: list[int], words: tuple[int, ...]) -> None:
    # FIPS 180-4 §6.1.2 for one 512-bit block. Left rotations are left unmasked
    # where a sum is masked afterwards: bits above 32 never reach the low 32.
    w = list(words)
    for t in range(16, 80):
        x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
        w.append(((x << 1) | (x >> 31)) & _MASK)
    a, b, c, d, e = state
    for t in range(20):
        f = d ^ (b & (c ^ d))  # Ch(b, c, d)
        a, b, c, d, e = (
            (((a << 5) | (a >> 27)) + f + e + 0x5A827999 + w[t]) & _MASK,
            a,
            ((b << 30) | (b >> 2)) & _MASK,
            c,
            d,
        )
    for t in range(20, 40):
        f = b ^ c ^ d  # Parity
        a, b, c, d, e = (
            (((a << 5) | (a >> 27)) + f + e + 0x6ED9EBA1 + w[t]) & _MASK,
            a,
            ((b << 30) | (b >> 2)) & _MASK,
            c,
            d,
        )
    for t in range(40, 60):
        f = (b & c) | (d & (b | c))  # Maj(b, c, d)
        a, b, c, d, e = (
            (((a << 5) | (a >> 27)) + f + e + 0x8F1BBCDC + w[t]) & _MASK,
            a,
            ((b << 30) | (b >> 2)) & _MASK,
            c,
            d,
        )
    for t in range(60, 80):
        f = b ^ c ^ d  # Parity
        a, b, c, d, e = (
            (((a << 5) | (a >> 27)) + f + e + 0xCA62C1D6 + w[t]) & _MASK,
            a,
            ((b << 30) | (b >> 2)) & _MASK,
            c,
            d,
        )
    state[0] = (state[0] + a) & _MASK
    state[1] = (state[1] + b) & _MASK
    state[2] = (state[2] + c) & _MASK
    state[3] = (state[3] + d) & _MASK
    state[4] = (state[4] + e) & _MASK


def sha1(data: bytes | bytearray | memoryview) -> bytes:
    """Return the 20-byte SHA-1 digest of data."""
    n = len(data)
    # FIPS 180-4 §5.1.1: 0x80, zeros up to 56 mod 64, then the bit length as a
    # 64-bit big-endian number (two words: struct "Q" is optional on MicroPython).
    padding = b"\x80" + bytes((55 - n) % 64) + struct.pack(">II", n >> 29, (n << 3) & _MASK)
    message = bytes(data) + padding
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    for offset in range(0, len(message), 64):
        _compress(state, struct.unpack_from(">16I", message, offset))
    return struct.pack(">5I", *state)
