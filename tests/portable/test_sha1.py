"""wsproto_lite._sha1: the pure-Python SHA-1 against published test vectors.

Runs under pytest and on MicroPython: bare asserts, no pytest import.
"""

import binascii

from wsproto_lite._sha1 import sha1


def hexdigest(data):
    return binascii.hexlify(sha1(data)).decode()


def test_empty_message_matches_fips_vector():
    assert hexdigest(b"") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_abc_matches_rfc3174_vector():
    assert hexdigest(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"


def test_448_bit_message_matches_rfc3174_vector():
    data = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert hexdigest(data) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"


def test_896_bit_message_matches_fips_vector():
    data = (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
    )
    assert hexdigest(data) == "a49b2446a02c645bf419f995b67091253a04a259"


def test_multi_block_message_matches_rfc3174_vector():
    # RFC 3174 §7.3 TEST4: 640 bytes, eleven blocks once padded.
    data = b"0123456701234567012345670123456701234567012345670123456701234567" * 10
    assert hexdigest(data) == "dea356a2cddd90c7a7ecedc5ebb563934f460452"


def test_padding_boundary_lengths_match_hashlib():
    # Digests from CPython's hashlib.sha1 of bytes(i * 7 & 0xFF for i in range(n)):
    # 55/56 bytes are the last that pad into one block and the first that need two.
    expected = {
        55: "aecd1643c9903b9bae8cb94f53c50f8a4e18605b",
        56: "f5d65c621c02cc8e785159feff8088e3072da1bc",
        63: "4952f0fe097e4d6410ae9eab4855aa836caf3bff",
        64: "1e17ae1fc093e5daca033553c97a5192ca164486",
        65: "ac44f5dbe3e9b5d2733fc9537fcad715c3c20bc3",
        119: "b4a4e69060d0b1e7e8ebbf7041a4211c63438b57",
        120: "b651390c2996406336a3f6647e4b590c18cdd6f8",
    }
    for n, digest in expected.items():
        assert hexdigest(bytes([i * 7 & 0xFF for i in range(n)])) == digest, n


def test_rfc6455_handshake_key_gives_sample_accept():
    # RFC 6455 §1.3: the sample key and its Sec-WebSocket-Accept value.
    key = b"dGhlIHNhbXBsZSBub25jZQ==" + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert binascii.b2a_base64(sha1(key)) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"


def test_bytearray_and_memoryview_input_give_same_digest():
    assert sha1(bytearray(b"abc")) == sha1(b"abc")
    assert sha1(memoryview(b"xabcx")[1:4]) == sha1(b"abc")


def test_digest_is_20_bytes():
    assert len(sha1(b"x" * 1000)) == 20
