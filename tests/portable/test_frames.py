"""wsproto_lite.frames on its own: parser, encoder, builder, masking, close payloads.

Runs under pytest and on MicroPython: bare asserts, no pytest import, small payloads.
Parser input is written by hand (RFC 6455 §5.7 examples and the like), never made by
the encoder under test.
"""

from _helpers import KEY, bytewise, masked, raises

from wsproto_lite.errors import (
    InvalidUTF8,
    LocalProtocolError,
    MessageTooBig,
    RemoteProtocolError,
)
from wsproto_lite.frames import (
    CloseReason,
    Frame,
    FrameParser,
    Opcode,
    build_frame,
    chop,
    encode_close_payload,
    encode_frame,
    is_valid_close_code,
    mask,
    parse_close_payload,
)

HELLO_MASKED = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 §5.7
HEADER_64K = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"  # binary, 65536 bytes, unmasked

VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
VALID_CODES += (3000, 3999, 4000, 4999)
INVALID_CODES = (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)


def parse(data, expect_mask=False, chunks=None, **kwargs):
    """Every frame the parser gives for data, fed whole (or in the given chunks)."""
    parser = FrameParser(expect_mask, **kwargs)
    got = []
    for chunk in chunks if chunks is not None else [data]:
        parser.feed(chunk)
        while True:
            frame = parser.next_frame()
            if frame is None:
                break
            got.append(frame)
    return got


def parse_both_ways(data, expect_mask=False, **kwargs):
    """Parse whole and one byte at a time (no streaming: frames come out whole); must agree."""
    whole = parse(data, expect_mask, **kwargs)
    slow = parse(data, expect_mask, bytewise(data), **kwargs)
    assert slow == whole, "one byte at a time: %r, whole: %r" % (slow, whole)
    return whole


def parser_error(data, expect_mask=False, **kwargs):
    """The error the parser raises for data; the same error comes back on every later call."""
    parser = FrameParser(expect_mask, **kwargs)
    parser.feed(data)
    exc = None
    try:
        while parser.next_frame() is not None:
            pass
    except RemoteProtocolError as e:
        exc = e
    assert exc is not None, "no error for %r" % (data,)
    again = raises(RemoteProtocolError, parser.next_frame)
    assert again is exc
    parser.feed(b"\x81\x00")  # more bytes change nothing: the parser stays failed
    assert raises(RemoteProtocolError, parser.next_frame) is exc
    return exc


def fails_1002(data, expect_mask=False, **kwargs):
    exc = parser_error(data, expect_mask, **kwargs)
    assert type(exc) is RemoteProtocolError, "%r for %r" % (exc, data)
    assert exc.code == 1002
    return exc


def fails_1009(data, expect_mask=False, **kwargs):
    exc = parser_error(data, expect_mask, **kwargs)
    assert type(exc) is MessageTooBig, "%r for %r" % (exc, data)
    assert exc.code == 1009
    return exc


# -- RFC 6455 §5.7 examples ---------------------------------------------------------------


def test_rfc_unmasked_text_frame_parses_as_hello():
    assert parse_both_ways(b"\x81\x05Hello") == [Frame(Opcode.TEXT, b"Hello")]


def test_rfc_masked_text_frame_parses_as_hello_on_server():
    assert parse_both_ways(HELLO_MASKED, expect_mask=True) == [Frame(Opcode.TEXT, b"Hello")]


def test_rfc_fragmented_text_parses_as_start_and_continuation():
    got = parse_both_ways(b"\x01\x03Hel\x80\x02lo")
    assert got == [Frame(Opcode.TEXT, b"Hel", fin=False), Frame(Opcode.CONTINUATION, b"lo")]


def test_rfc_unmasked_ping_parses_with_payload():
    assert parse_both_ways(b"\x89\x05Hello") == [Frame(Opcode.PING, b"Hello")]


def test_rfc_masked_pong_parses_with_payload():
    pong = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert parse_both_ways(pong, expect_mask=True) == [Frame(Opcode.PONG, b"Hello")]


def test_rfc_256_byte_binary_frame_parses_with_16_bit_length():
    payload = bytes(range(256))
    got = parse_both_ways(b"\x82\x7e\x01\x00" + payload)
    assert got == [Frame(Opcode.BINARY, payload)]


def test_rfc_64k_binary_header_waits_then_streams_payload():
    parser = FrameParser(expect_mask=False)
    parser.feed(HEADER_64K + b"abc")
    assert parser.next_frame() is None  # not streaming: waits for the whole payload
    assert parser.buffered == 13

    streaming = FrameParser(expect_mask=False, stream_payload=True)
    streaming.feed(HEADER_64K + b"abc")
    first = streaming.next_frame()
    assert first == Frame(Opcode.BINARY, b"abc", frame_finished=False)
    assert streaming.next_frame() is None
    total = 3
    block = b"\x5a" * 4093
    last = None
    while total < 65536:
        piece = block[: 65536 - total]
        streaming.feed(piece)
        frame = streaming.next_frame()
        assert frame.payload == piece and frame.opcode == Opcode.BINARY
        total += len(piece)
        last = frame
        assert streaming.buffered == 0  # streamed pieces are never kept
    assert last.frame_finished and last.fin
    streaming.feed(b"\x89\x00")
    assert streaming.next_frame() == Frame(Opcode.PING, b"")


def test_masked_payload_streams_with_key_rotation():
    # "Hello" arriving 1, 2 and 2 bytes at a time unmasks at offsets 0, 1 and 3.
    streaming = FrameParser(expect_mask=True, stream_payload=True)
    pieces = []
    for chunk in (HELLO_MASKED[:7], HELLO_MASKED[7:9], HELLO_MASKED[9:]):
        streaming.feed(chunk)
        frame = streaming.next_frame()
        pieces.append((frame.payload, frame.frame_finished))
    assert pieces == [(b"H", False), (b"el", False), (b"lo", True)]


def test_frames_and_trailing_bytes_survive_across_feeds():
    data = b"\x81\x05Hello\x89\x00\x82\x02\x00\xff"
    for cut in range(len(data) + 1):
        got = parse(data, chunks=[data[:cut], data[cut:]])
        assert got == [
            Frame(Opcode.TEXT, b"Hello"),
            Frame(Opcode.PING, b""),
            Frame(Opcode.BINARY, b"\x00\xff"),
        ], "cut at %d" % cut


def test_partial_header_is_not_consumed():
    parser = FrameParser(expect_mask=False)
    parser.feed(b"\x82\x7e\x01")
    assert parser.next_frame() is None
    assert parser.buffered == 3
    parser.feed(b"\x00" + b"z" * 256)
    assert parser.next_frame() == Frame(Opcode.BINARY, b"z" * 256)
    assert parser.buffered == 0


def test_empty_frames_parse():
    got = parse_both_ways(b"\x81\x00\x82\x00\x89\x00\x8a\x00\x88\x00")
    assert [f.opcode for f in got] == [1, 2, 9, 10, 8]
    assert [f.payload for f in got] == [b""] * 5


def test_rsv_bits_allowed_by_extension_are_reported():
    got = parse(b"\xc1\x02hi", allowed_rsv=4)
    assert got == [Frame(Opcode.TEXT, b"hi", rsv=4)]


# -- RFC 6455 rules, one each --------------------------------------------------------------


def test_unmasked_frame_on_server_side_fails_1002():
    fails_1002(b"\x81\x05Hello", expect_mask=True)


def test_masked_frame_on_client_side_fails_1002():
    fails_1002(HELLO_MASKED, expect_mask=False)


def test_rsv_bits_without_extension_fail_1002():
    for b0 in (0xC1, 0xA1, 0x91, 0xF1, 0xC9):
        fails_1002(bytes((b0, 0)))


def test_rsv_bit_outside_the_allowed_ones_fails_1002():
    fails_1002(b"\xa1\x00", allowed_rsv=4)


def test_reserved_opcodes_fail_1002():
    for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        exc = fails_1002(bytes((0x80 | opcode, 0)))
        assert "opcode" in str(exc), opcode


def test_control_frame_over_125_bytes_fails_1002_at_header():
    for opcode in (0x88, 0x89, 0x8A):
        fails_1002(bytes((opcode, 0x7E, 0x00, 0x7E)))  # 126, no payload needed to refuse
        fails_1002(bytes((opcode, 0x7E)))  # the 7-bit field alone says 126: refused at once


def test_control_frame_of_125_bytes_parses():
    got = parse(b"\x89\x7d" + b"p" * 125)
    assert got == [Frame(Opcode.PING, b"p" * 125)]


def test_fragmented_control_frame_fails_1002():
    for b0 in (0x08, 0x09, 0x0A):
        fails_1002(bytes((b0, 0)))


def test_control_frames_between_fragments_parse_in_order():
    got = parse_both_ways(b"\x01\x03Hel\x89\x01p\x8a\x00\x80\x02lo")
    assert got == [
        Frame(Opcode.TEXT, b"Hel", fin=False),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.PONG, b""),
        Frame(Opcode.CONTINUATION, b"lo"),
    ]


def test_continuation_without_start_fails_1002():
    fails_1002(b"\x80\x02lo")
    fails_1002(b"\x00\x02lo")
    fails_1002(b"\x81\x01a\x80\x01b")  # the previous message is finished


def test_new_start_inside_fragmented_message_fails_1002():
    fails_1002(b"\x01\x03Hel\x81\x02lo")
    fails_1002(b"\x02\x01a\x01\x01b")


def test_non_minimal_16_bit_length_fails_1002():
    fails_1002(b"\x82\x7e\x00\x05hello")
    fails_1002(b"\x82\x7e\x00\x7d" + b"x" * 125)


def test_non_minimal_64_bit_length_fails_1002():
    fails_1002(b"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05hello")
    fails_1002(b"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff")


def test_64_bit_length_with_top_bit_fails_1002():
    fails_1002(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00")
    fails_1002(b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", max_frame_size=None)


def test_length_2_63_minus_1_is_refused_at_header_without_buffering():
    parser = FrameParser(expect_mask=False, max_frame_size=1 << 20)
    parser.feed(b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff" + b"abc")
    exc = raises(MessageTooBig, parser.next_frame)
    assert exc.code == 1009
    assert parser.buffered <= 13  # the header and what came with it: nothing allocated


def test_length_2_63_minus_1_without_limit_streams_without_buffering():
    parser = FrameParser(expect_mask=False, stream_payload=True)
    parser.feed(b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff" + b"abc")
    assert parser.next_frame() == Frame(Opcode.BINARY, b"abc", frame_finished=False)
    assert parser.buffered == 0


def test_frame_over_max_frame_size_fails_1009_at_header():
    fails_1009(b"\x82\x0b", max_frame_size=10)  # two bytes of header, no payload yet
    fails_1009(b"\x82\x8b", expect_mask=True, max_frame_size=10)  # before the mask key
    fails_1009(b"\x82\x7e\x01\x00", max_frame_size=255)


def test_frame_at_max_frame_size_parses():
    assert parse(b"\x82\x0a" + b"0123456789", max_frame_size=10) == [
        Frame(Opcode.BINARY, b"0123456789")
    ]


def test_control_frames_ignore_max_frame_size():
    assert parse(b"\x89\x05Hello", max_frame_size=1) == [Frame(Opcode.PING, b"Hello")]


def test_message_over_max_message_size_fails_1009_at_crossing_header():
    parser = FrameParser(expect_mask=False, max_message_size=10)
    parser.feed(b"\x02\x06abcdef\x89\x00\x00\x04ghij")
    assert parser.next_frame() == Frame(Opcode.BINARY, b"abcdef", fin=False)
    assert parser.next_frame() == Frame(Opcode.PING, b"")
    assert parser.next_frame() == Frame(Opcode.CONTINUATION, b"ghij", fin=False)
    assert parser.next_frame() is None
    parser.feed(b"\x80\x01")  # the header of the frame that crosses the limit
    exc = raises(MessageTooBig, parser.next_frame)
    assert exc.code == 1009


def test_message_at_max_message_size_parses_and_limit_resets():
    data = b"\x02\x06abcdef\x80\x04ghij\x82\x0a0123456789"
    got = parse(data, max_message_size=10)
    assert [f.payload for f in got] == [b"abcdef", b"ghij", b"0123456789"]


def test_parser_error_is_sticky_and_later_bytes_are_not_read():
    parser = FrameParser(expect_mask=False)
    parser.feed(b"\x81\x01a\x83\x00\x81\x01b")
    assert parser.next_frame() == Frame(Opcode.TEXT, b"a")
    exc = raises(RemoteProtocolError, parser.next_frame)
    assert raises(RemoteProtocolError, parser.next_frame) is exc


# -- encoder -------------------------------------------------------------------------------


def test_encode_text_unmasked_gives_rfc_bytes():
    assert encode_frame(Opcode.TEXT, b"Hello") == b"\x81\x05Hello"


def test_encode_text_masked_gives_rfc_bytes():
    assert encode_frame(Opcode.TEXT, b"Hello", mask_key=KEY) == HELLO_MASKED


def test_encode_fragment_and_continuation_give_rfc_bytes():
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) == b"\x01\x03Hel"
    assert encode_frame(Opcode.CONTINUATION, b"lo") == b"\x80\x02lo"


def test_encode_uses_minimal_length_encoding():
    assert encode_frame(Opcode.BINARY, b"x" * 125)[:2] == b"\x82\x7d"
    assert encode_frame(Opcode.BINARY, b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert encode_frame(Opcode.BINARY, bytes(256))[:4] == b"\x82\x7e\x01\x00"
    assert encode_frame(Opcode.BINARY, bytes(256), mask_key=KEY)[:8] == b"\x82\xfe\x01\x00" + KEY


def test_encode_refuses_what_a_sender_may_not_send():
    for opcode in (3, 7, 0xB, 0xF, 16, -1):
        raises(LocalProtocolError, encode_frame, opcode, b"")
    raises(LocalProtocolError, encode_frame, Opcode.PING, b"p" * 126)
    raises(LocalProtocolError, encode_frame, Opcode.CLOSE, b"\x03\xe8", fin=False)
    raises(LocalProtocolError, encode_frame, Opcode.TEXT, b"", rsv=8)
    raises(LocalProtocolError, encode_frame, Opcode.TEXT, b"", mask_key=b"\x00\x01\x02")


def test_encode_rsv_sets_header_bits():
    assert encode_frame(Opcode.TEXT, b"", rsv=4) == b"\xc1\x00"
    assert encode_frame(Opcode.BINARY, b"", rsv=7, fin=False) == b"\x72\x00"


# -- builder for fuzzing -------------------------------------------------------------------


def test_build_frame_makes_valid_frames_like_encode():
    assert build_frame(Opcode.TEXT, b"Hello") == b"\x81\x05Hello"
    assert build_frame(Opcode.TEXT, b"Hello", mask_key=KEY) == HELLO_MASKED


def test_build_frame_makes_invalid_frames_byte_exact():
    assert build_frame(3) == b"\x83\x00"
    assert build_frame(0xF, b"x", fin=False, rsv=7) == b"\x7f\x01x"
    assert build_frame(Opcode.PING, b"p" * 126)[:4] == b"\x89\x7e\x00\x7e"
    assert build_frame(Opcode.TEXT, b"ab", length=5) == b"\x81\x05ab"
    assert build_frame(Opcode.TEXT, b"ab", length_size=8) == b"\x81\x7f" + bytes(7) + b"\x02ab"
    assert build_frame(Opcode.TEXT, b"ab", length_size=2) == b"\x81\x7e\x00\x02ab"
    assert build_frame(Opcode.BINARY, b"", length=1 << 63) == b"\x82\x7f\x80" + bytes(7)


def test_build_frame_refuses_impossible_length_fields():
    raises(ValueError, build_frame, Opcode.TEXT, b"", length=128, length_size=0)
    raises(ValueError, build_frame, Opcode.TEXT, b"", length_size=4)


def test_parser_rejects_built_invalid_frames():
    fails_1002(build_frame(5, b"x"))
    fails_1002(build_frame(Opcode.TEXT, b"x", rsv=2))
    fails_1002(build_frame(Opcode.TEXT, b"x"), expect_mask=True)
    fails_1002(build_frame(Opcode.TEXT, b"x", mask_key=KEY))
    fails_1002(build_frame(Opcode.TEXT, b"x", length_size=2))
    fails_1002(build_frame(Opcode.PING, b"p" * 126))


def test_chop_splits_and_joins_back():
    assert chop(b"abcde", 2) == [b"ab", b"cd", b"e"]
    assert chop(b"abc") == [b"a", b"b", b"c"]
    assert chop(b"") == []
    raises(ValueError, chop, b"abc", 0)


# -- masking -------------------------------------------------------------------------------


def test_mask_gives_rfc_example_bytes():
    assert mask(b"Hello", KEY) == b"\x7f\x9f\x4d\x51\x58"
    assert mask(b"\x7f\x9f\x4d\x51\x58", KEY) == b"Hello"


def test_mask_offset_continues_the_key_cycle():
    whole = mask(b"Hello, world", KEY)
    for cut in range(13):
        assert mask(b"Hello, world"[:cut], KEY) + mask(b"Hello, world"[cut:], KEY, cut) == whole


def test_mask_accepts_bytearray_and_memoryview():
    assert mask(bytearray(b"Hello"), bytearray(KEY)) == b"\x7f\x9f\x4d\x51\x58"
    assert mask(memoryview(b"Hello"), memoryview(KEY)) == b"\x7f\x9f\x4d\x51\x58"
    assert mask(b"", KEY) == b""


def test_masked_helper_agrees_with_rfc_example():
    assert masked(b"\x81\x05Hello") == HELLO_MASKED


# -- close payloads ------------------------------------------------------------------------


def test_close_codes_valid_on_the_wire():
    for code in VALID_CODES:
        assert is_valid_close_code(code), code
    for code in INVALID_CODES:
        assert not is_valid_close_code(code), code


def test_parse_close_payload_of_valid_codes_gives_code_and_reason():
    for code in VALID_CODES:
        assert parse_close_payload(bytes((code >> 8, code & 255))) == (code, "")
    assert parse_close_payload(b"\x03\xe8bye") == (1000, "bye")
    assert parse_close_payload(b"\x0f\xa0\xce\xba") == (4000, "\u03ba")


def test_parse_empty_close_payload_gives_1005():
    assert parse_close_payload(b"") == (CloseReason.NO_STATUS_RCVD, "")


def test_parse_close_payload_of_invalid_code_fails_1002():
    for code in INVALID_CODES:
        exc = raises(RemoteProtocolError, parse_close_payload, bytes((code >> 8, code & 255)))
        assert type(exc) is RemoteProtocolError and exc.code == 1002, code


def test_parse_one_byte_close_payload_fails_1002():
    exc = raises(RemoteProtocolError, parse_close_payload, b"\x03")
    assert type(exc) is RemoteProtocolError and exc.code == 1002


def test_parse_close_reason_invalid_utf8_fails_1007():
    for reason in (b"\xff", b"\xce", b"\xed\xa0\x80", b"\xc0\x80", b"ok\xf4\x90\x80\x80"):
        exc = raises(InvalidUTF8, parse_close_payload, b"\x03\xe8" + reason)
        assert exc.code == 1007, reason


def test_encode_close_payload_gives_code_and_reason():
    assert encode_close_payload(1000, "bye") == b"\x03\xe8bye"
    assert encode_close_payload(4999) == b"\x13\x87"
    assert encode_close_payload(1000, "\u03ba") == b"\x03\xe8\xce\xba"
    assert encode_close_payload(1000, "r" * 123) == b"\x03\xe8" + b"r" * 123


def test_encode_close_payload_of_none_or_1005_is_empty():
    assert encode_close_payload() == b""
    assert encode_close_payload(None) == b""
    assert encode_close_payload(1005) == b""


def test_encode_close_payload_refuses_what_may_not_be_sent():
    for code in INVALID_CODES:
        if code != 1005:
            raises(LocalProtocolError, encode_close_payload, code)
    raises(LocalProtocolError, encode_close_payload, 1000, "r" * 124)
    raises(LocalProtocolError, encode_close_payload, 1000, "\u03ba" * 62)  # 124 bytes
    raises(LocalProtocolError, encode_close_payload, None, "a reason needs a code")


def test_due_says_what_completes_the_frame_under_way_within_the_limits():
    # A hint for a transport's read size: bytes still due, from the header alone.
    p = FrameParser(expect_mask=False, max_message_size=1000)
    assert p.due == 0  # nothing yet
    p.feed(b"\x82")
    assert p.due == 0  # half a header says nothing
    p.feed(b"\x7e\x01")
    assert p.due == 0  # the 16-bit length is not all here
    p.feed(b"\x00" + b"x" * 56)
    assert p.due == 256 - 56  # header 4, payload 256, 56 of it here
    assert p.next_frame() is None
    assert p.due == 200
    p.feed(b"x" * 200)
    assert p.due == 0
    frame = p.next_frame()
    assert (frame.opcode, len(frame.payload)) == (Opcode.BINARY, 256)
    assert p.due == 0  # between frames
    # A header over the limit is never a reason to read more: 0, and the frame fails.
    p.feed(b"\x82\x7f" + (1 << 40).to_bytes(8, "big"))
    assert p.due == 0
    raises(MessageTooBig, p.next_frame)
    assert p.due == 0
    # Masked, streamed: the key counts until it is here, then the rest of the payload.
    s = FrameParser(expect_mask=True, stream_payload=True)
    s.feed(masked(b"\x81\x0a" + b"abcdefghij")[:4])
    assert s.due == 2 + 4 + 10 - 4
    s.feed(masked(b"\x81\x0a" + b"abcdefghij")[4:9])
    assert s.next_frame().payload == b"abc"
    assert s.due == 7
    # An oversized control frame claim is no reason to read either.
    c = FrameParser(expect_mask=False)
    c.feed(b"\x89\x7e\x01\x00")
    assert c.due == 0
