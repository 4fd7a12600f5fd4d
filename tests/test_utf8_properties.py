"""wsproto_lite.utf8 against CPython's strict UTF-8 codec on arbitrary bytes and chunkings."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wsproto_lite.utf8 import Utf8Decoder, _PurePythonDecoder, decode_utf8

DECODERS = [Utf8Decoder, _PurePythonDecoder]


@st.composite
def mutated_text(draw):
    """Valid UTF-8 with a few bytes replaced, inserted or cut: mostly almost-valid input."""
    data = bytearray(draw(st.text(max_size=40)).encode("utf-8"))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        if action == "insert" or at == len(data):
            data[at:at] = bytes([draw(st.integers(0, 255))])
        elif action == "replace":
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:] = b""
    return bytes(data)


# Long ASCII runs reach the block-at-a-time path of the pure decoder.
long_text = st.builds(
    lambda a, b, c: a.encode("utf-8") + b"x" * c + b,
    st.text(max_size=8),
    st.binary(max_size=4),
    st.integers(0, 700),
)
# Lead bytes, each followed by up to three bytes, all at the edges of RFC 3629's
# ranges: surrogates, overlong forms and out-of-range code points turn up often,
# not once in thousands of random pairs.
_LEADS = [0x41, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4]
_LEADS += [0xF5, 0xFF]
_TRAILS = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF]
edge_bytes = st.lists(
    st.tuples(st.sampled_from(_LEADS), st.lists(st.sampled_from(_TRAILS), max_size=3)),
    max_size=8,
).map(lambda units: b"".join(bytes([lead, *trail]) for lead, trail in units))
any_bytes = st.one_of(st.binary(max_size=64), mutated_text(), long_text, edge_bytes)


def chunked(data, cuts):
    """Split data at the cuts that fall inside it: [(offset, chunk), ...]."""
    bounds = [0, *sorted({c for c in cuts if c <= len(data)}), len(data)]
    return [(a, data[a:b]) for a, b in zip(bounds, bounds[1:])]


def feed(cls, chunks):
    """Decode [(offset, chunk), ...] then final=True; return (text, None) or
    (None, (start, end)): the byte range of the call that raised, final's being (n, n + 1)."""
    decoder = cls()
    end = chunks[-1][0] + len(chunks[-1][1]) if chunks else 0
    steps = [*chunks, (end, None)]
    text = ""
    for offset, chunk in steps:
        try:
            text += decoder.decode(b"", True) if chunk is None else decoder.decode(chunk)
        except UnicodeError as exc:
            # The pure validator raises plain UnicodeError; a UnicodeDecodeError would mean
            # CPython's strict str() caught what the validator let through.
            if cls is _PurePythonDecoder:
                assert type(exc) is UnicodeError, exc
            return None, (offset, offset + (1 if chunk is None else len(chunk)))
    return text, None


def first_impossible_byte(data):
    """Index of the first byte no valid UTF-8 continues past, len(data) if the input
    only ends inside a code point, or None if it is valid: from CPython's strict codec."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "invalid start byte":
            return exc.start
        if exc.reason == "invalid continuation byte":
            return exc.end  # exc.start..exc.end is the longest valid prefix of a code point
        assert exc.reason == "unexpected end of data", exc.reason
        return len(data)
    return None


def first_failing_call(data):
    """What feed() reports for one byte per call."""
    bad = first_impossible_byte(data)
    return None if bad is None else (bad, bad + 1)


def cpython_text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@pytest.mark.parametrize("cls", DECODERS)
@given(data=any_bytes, cuts=st.lists(st.integers(0, 800), max_size=6))
def test_any_bytes_any_chunking_same_outcome_as_cpython(cls, data, cuts):
    text, _ = feed(cls, chunked(data, cuts))
    assert text == cpython_text(data)


@pytest.mark.parametrize("cls", DECODERS)
@given(data=any_bytes, cuts=st.lists(st.integers(0, 800), max_size=6))
@example(data=b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", cuts=[])
@example(data=b"\xed\xa0", cuts=[1])
def test_invalid_bytes_fail_in_the_chunk_holding_first_impossible_byte(cls, data, cuts):
    bad = first_impossible_byte(data)
    _, failed = feed(cls, chunked(data, cuts))
    if bad is None:
        assert failed is None
    else:
        assert failed is not None
        assert failed[0] <= bad < failed[1]


@pytest.mark.parametrize("cls", DECODERS)
@settings(max_examples=300)
@given(data=st.one_of(edge_bytes, any_bytes))
def test_one_byte_at_a_time_fails_exactly_at_first_impossible_byte(cls, data):
    _, failed = feed(cls, chunked(data, range(len(data))))
    assert failed == first_failing_call(data)


@pytest.mark.parametrize("cls", DECODERS)
def test_every_two_byte_sequence_fails_exactly_where_cpython_says(cls):
    for first in range(256):
        for second in range(256):
            data = bytes([first, second])
            _, failed = feed(cls, [(0, data[:1]), (1, data[1:])])
            assert failed == first_failing_call(data), data


@pytest.mark.parametrize("cls", DECODERS)
def test_every_third_byte_after_edge_pairs_fails_exactly_where_cpython_says(cls):
    for first in range(0xC2, 0xF5):
        for second in (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF):
            for third in range(256):
                data = bytes([first, second, third])
                _, failed = feed(cls, chunked(data, [1, 2]))
                assert failed == first_failing_call(data), data


@pytest.mark.parametrize("cls", DECODERS)
@given(text=st.text(), cuts=st.lists(st.integers(0, 400), max_size=6), wrap=st.integers(0, 2))
def test_valid_text_in_any_buffer_type_and_chunking_decodes(cls, text, cuts, wrap):
    kind = [bytes, bytearray, memoryview][wrap]
    chunks = [(a, kind(c)) for a, c in chunked(text.encode("utf-8"), cuts)]
    assert feed(cls, chunks) == (text, None)


@given(data=any_bytes)
def test_decode_utf8_same_outcome_as_cpython(data):
    try:
        got = decode_utf8(data)
    except UnicodeError:
        got = None
    assert got == cpython_text(data)
