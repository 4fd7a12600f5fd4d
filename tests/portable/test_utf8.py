"""wsproto_lite.utf8: incremental, fail-fast UTF-8 (Autobahn 6.x cases), on both decoders.

Runs under pytest and on MicroPython: bare asserts, no pytest import.
"""

from wsproto_lite.utf8 import Utf8Decoder, _PurePythonDecoder, decode_utf8

DECODERS = (Utf8Decoder, _PurePythonDecoder)

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε", Autobahn 6.2.x

# Valid text mixing 1-, 2-, 3- and 4-byte code points and the edges of each range.
VALID = (
    b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"  # Autobahn 6.2.1
    + KOSME
    + b"\x00\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xef\xbf\xbf"
    + b"\xf0\x90\x80\x80\xf0\x9f\x8e\x89\xf4\x8f\xbf\xbf"
)

# (bytes, index of the first byte no valid UTF-8 can contain)
INVALID = (
    (KOSME + b"\xed\xa0\x80edited", 12),  # Autobahn 6.3.1: surrogate after valid text
    (b"\xed\xa0\x80", 1),  # U+D800
    (b"\xed\xbf\xbf", 1),  # U+DFFF
    (b"\xed\xa0\x80\xed\xb0\x80", 1),  # surrogate pair, CESU-8 style
    (b"\xf4\x90\x80\x80", 1),  # U+110000
    (b"\xf7\xbf\xbf\xbf", 0),  # U+1FFFFF
    (b"\xc0\x80", 0),  # overlong U+0000, 2 bytes
    (b"\xc1\xbf", 0),  # overlong U+007F, 2 bytes
    (b"\xe0\x80\x80", 1),  # overlong U+0000, 3 bytes
    (b"\xe0\x9f\xbf", 1),  # overlong U+07FF, 3 bytes
    (b"\xf0\x80\x80\x80", 1),  # overlong U+0000, 4 bytes
    (b"\xf0\x8f\xbf\xbf", 1),  # overlong U+FFFF, 4 bytes
    (b"\xf5\x80\x80\x80", 0),
    (b"\xf8\x88\x80\x80\x80", 0),  # old 5-byte form
    (b"\xfc\x84\x80\x80\x80\x80", 0),  # old 6-byte form
    (b"\xfe", 0),
    (b"\xff", 0),
    (b"\x80", 0),  # lone continuation byte
    (b"\xbf", 0),
    (b"a\x80b", 1),
    (b"\xce\xba\xba", 2),  # one continuation byte too many
    (b"\xceA", 1),  # lead byte followed by ASCII
    (b"\xe1\xbdA", 2),
    (b"\xf0\x90\x80A", 3),
    (b"\xce\xce\xba", 1),  # lead byte followed by a lead byte
    (b"\xf0\x9f\x8e\x89\xf0\x9f\x8e", 7),  # truncated 4-byte code point: fails at the end
    (b"\xce", 1),
    (b"\xe1\xbd", 2),
    (b"\xf4\x8f\xbf", 3),
)


def raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type:
        return True
    return False


def decode_chunks(cls, chunks):
    decoder = cls()
    text = "".join(decoder.decode(chunk) for chunk in chunks)
    return text + decoder.decode(b"", True)


def fail_offset(cls, data):
    """Feed one byte per call; return the index whose call raised, len(data) if only
    final=True raised, or None."""
    decoder = cls()
    for i in range(len(data)):
        try:
            decoder.decode(data[i : i + 1])
        except UnicodeError:
            return i
    try:
        decoder.decode(b"", True)
    except UnicodeError:
        return len(data)
    return None


def test_valid_text_whole_decodes():
    for cls in DECODERS:
        assert cls().decode(VALID, True) == VALID.decode("utf-8")
        assert cls().decode(KOSME, True) == "\u03ba\u1f79\u03c3\u03bc\u03b5"


def test_valid_text_split_at_every_offset_decodes():
    expected = VALID.decode("utf-8")
    for cls in DECODERS:
        for i in range(len(VALID) + 1):
            decoder = cls()
            assert decoder.decode(VALID[:i]) + decoder.decode(VALID[i:], True) == expected


def test_valid_text_one_byte_at_a_time_decodes():
    expected = VALID.decode("utf-8")
    for cls in DECODERS:
        chunks = [VALID[i : i + 1] for i in range(len(VALID))]
        assert decode_chunks(cls, chunks) == expected


def test_unfinished_code_point_returns_only_finished_text():
    for cls in DECODERS:
        decoder = cls()
        assert decoder.decode(b"a\xf0\x9f") == "a"
        assert decoder.decode(b"\x8e") == ""
        assert decoder.decode(b"\x89b\xce") == "\U0001f389b"
        assert decoder.decode(b"\xba", True) == "\u03ba"


def test_bytearray_and_memoryview_input_decodes():
    for cls in DECODERS:
        decoder = cls()
        assert decoder.decode(bytearray(b"\xce\xba\xe1")) == "\u03ba"
        assert decoder.decode(memoryview(b"x\xbd\xb9z")[1:3], True) == "\u1f79"


def test_empty_input_decodes_to_empty_text():
    for cls in DECODERS:
        assert cls().decode(b"") == ""
        assert cls().decode(b"", True) == ""


def test_code_point_edges_decode():
    edges = (
        (b"\x00", "\x00"),
        (b"\x7f", "\x7f"),
        (b"\xc2\x80", "\x80"),
        (b"\xdf\xbf", "\u07ff"),
        (b"\xe0\xa0\x80", "\u0800"),
        (b"\xed\x9f\xbf", "\ud7ff"),
        (b"\xee\x80\x80", "\ue000"),
        (b"\xef\xbf\xbe", "\ufffe"),  # noncharacters are valid UTF-8 (Autobahn 6.22)
        (b"\xef\xbf\xbf", "\uffff"),
        (b"\xf0\x90\x80\x80", "\U00010000"),
        (b"\xf4\x8f\xbf\xbf", "\U0010ffff"),
    )
    for cls in DECODERS:
        for data, text in edges:
            assert cls().decode(data, True) == text, data
            assert fail_offset(cls, data) is None, data


def test_invalid_sequence_fails_at_first_impossible_byte():
    for cls in DECODERS:
        for data, offset in INVALID:
            assert fail_offset(cls, data) == offset, (cls, data)


def test_invalid_sequence_whole_fails():
    for cls in DECODERS:
        for data, offset in INVALID:
            assert raises(UnicodeError, cls().decode, data, True), (cls, data)
            if offset < len(data):
                assert raises(UnicodeError, cls().decode, data), (cls, data)


def test_invalid_byte_after_valid_prefix_fails_in_its_chunk():
    for cls in DECODERS:
        for data, offset in INVALID:
            if offset == len(data):
                continue
            decoder = cls()
            decoder.decode(data[:offset])
            assert raises(UnicodeError, decoder.decode, data[offset:]), (cls, data)


def test_second_byte_outside_rfc3629_range_fails():
    # RFC 3629 §4: allowed first continuation byte for each lead byte.
    ranges = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}
    seconds = (0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF)
    for cls in DECODERS:
        for lead in range(0x80, 0x100):
            for second in seconds:
                if lead < 0xC2 or lead > 0xF4:
                    expected = 0
                else:
                    low, high = ranges.get(lead, (0x80, 0xBF))
                    expected = None if low <= second <= high else 1
                decoder = cls()
                got = 0 if raises(UnicodeError, decoder.decode, bytes([lead])) else None
                if got is None and raises(UnicodeError, decoder.decode, bytes([second])):
                    got = 1
                assert got == expected, (cls, lead, second)


def test_unfinished_code_point_at_final_fails():
    for cls in DECODERS:
        for data in (b"\xce", b"ok\xe1\xbd", b"\xf0\x9f\x8e"):
            decoder = cls()
            decoder.decode(data)
            assert raises(UnicodeError, decoder.decode, b"", True), (cls, data)
            assert raises(UnicodeError, cls().decode, data, True), (cls, data)


def test_unfinished_code_point_then_ascii_run_fails():
    for cls in DECODERS:
        decoder = cls()
        assert decoder.decode(b"\xe1\xbd") == ""
        assert raises(UnicodeError, decoder.decode, b"x" * 1000), cls


def test_long_ascii_with_bad_byte_fails_anywhere():
    for cls in DECODERS:
        for at in (0, 1, 255, 256, 257, 511, 999):
            data = bytearray(b"a" * 1000)
            data[at] = 0xFF
            assert raises(UnicodeError, cls().decode, data), (cls, at)


def test_long_text_with_code_points_across_blocks_decodes():
    text = "a" * 255 + "\u03ba" + "b" * 300 + "\U0001f389" + "c" * 253 + "\u1f79"
    data = text.encode("utf-8")
    for cls in DECODERS:
        assert cls().decode(data, True) == text
        for cut in (254, 255, 256, 257, 557, 558, 559, 560, 561):
            decoder = cls()
            assert decoder.decode(data[:cut]) + decoder.decode(data[cut:], True) == text


def test_reset_after_error_decodes_again():
    for cls in DECODERS:
        decoder = cls()
        decoder.decode(b"\xe1")
        assert raises(UnicodeError, decoder.decode, b"\x41")
        decoder.reset()
        assert decoder.decode(b"\xce\xba", True) == "\u03ba"


def test_reset_drops_unfinished_code_point():
    for cls in DECODERS:
        decoder = cls()
        decoder.decode(b"\xe1\xbd")
        decoder.reset()
        assert decoder.decode(b"ok", True) == "ok"


def test_decoder_after_final_starts_fresh():
    for cls in DECODERS:
        decoder = cls()
        assert decoder.decode(b"\xce\xba", True) == "\u03ba"
        assert decoder.decode(b"\xce") == ""
        assert decoder.decode(b"\xba", True) == "\u03ba"


def test_decode_utf8_valid_decodes():
    assert decode_utf8(b"") == ""
    assert decode_utf8(VALID) == VALID.decode("utf-8")
    assert decode_utf8(bytearray(b"bye \xce\xba")) == "bye \u03ba"


def test_decode_utf8_invalid_fails():
    for data, _ in INVALID:
        assert raises(UnicodeError, decode_utf8, data), data
