"""Properties of wsproto_lite.frames: round trips, chunking, invalid frames, masking."""

import random
import struct

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wsproto_lite.errors import (
    InvalidUTF8,
    LocalProtocolError,
    MessageTooBig,
    RemoteProtocolError,
)
from wsproto_lite.frames import (
    Frame,
    FrameParser,
    build_frame,
    chop,
    encode_close_payload,
    encode_frame,
    is_valid_close_code,
    mask,
    parse_close_payload,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DATA_OPCODES = (1, 2)
CONTROL_OPCODES = (8, 9, 10)
RESERVED_OPCODES = (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)
# Every length class and its edges, up to ~200 KiB.
EDGE_SIZES = (0, 1, 125, 126, 127, 65535, 65536, 65537, 200 * 1024)


def naive_mask(data, key, offset=0):
    """The reference: one XOR per byte, the key cycle starting `offset` bytes in."""
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


def payload_of(size, seed):
    return random.Random(seed).randbytes(size)


@st.composite
def payloads(draw, max_small=300):
    if draw(st.booleans()):
        return draw(st.binary(max_size=max_small))
    return payload_of(draw(st.sampled_from(EDGE_SIZES)), draw(st.integers(0, 2**32)))


keys = st.binary(min_size=4, max_size=4)
maybe_keys = st.one_of(st.none(), keys)


def parse_all(parser, data):
    parser.feed(data)
    got = []
    while True:
        frame = parser.next_frame()
        if frame is None:
            return got
        got.append(frame)


def merge_pieces(frames):
    """Join streamed pieces (frame_finished=False) into the frames they belong to."""
    out = []
    pending = None
    for f in frames:
        if pending is None:
            pending = Frame(f.opcode, f.payload, f.fin, f.rsv)
        else:
            assert (f.opcode, f.fin, f.rsv) == (pending.opcode, pending.fin, pending.rsv)
            pending.payload += f.payload
        if f.frame_finished:
            out.append(pending)
            pending = None
    if pending is not None:
        pending.frame_finished = False
        out.append(pending)
    return out


@st.composite
def valid_streams(draw, max_frames=8, big=False):
    """A valid frame sequence: messages in fragments, control frames anywhere between."""
    frames = []
    budget = draw(st.integers(1, max_frames))
    in_message = False
    while len(frames) < budget or in_message:
        if draw(st.integers(0, 3)) == 0:
            opcode = draw(st.sampled_from(CONTROL_OPCODES))
            frames.append(Frame(opcode, draw(st.binary(max_size=125))))
            continue
        opcode = 0 if in_message else draw(st.sampled_from(DATA_OPCODES))
        fin = len(frames) + 1 >= budget or draw(st.booleans())
        data = draw(payloads()) if big else draw(st.binary(max_size=200))
        frames.append(Frame(opcode, data, fin, draw(st.integers(0, 7))))
        in_message = not fin
    return frames


def wire_of(frames, key):
    return b"".join(encode_frame(f.opcode, f.payload, f.fin, f.rsv, key) for f in frames)


# -- round trips ---------------------------------------------------------------------------


@SLOW
@given(
    opcode=st.sampled_from(DATA_OPCODES + CONTROL_OPCODES + (0,)),
    payload=payloads(),
    fin=st.booleans(),
    rsv=st.integers(0, 7),
    key=maybe_keys,
)
def test_any_valid_frame_round_trips(opcode, payload, fin, rsv, key):
    if opcode >= 8:
        payload = payload[:125]
        fin = True
    frames = [Frame(opcode, payload, fin, rsv)]
    if opcode == 0:  # a continuation needs a message to continue
        frames.insert(0, Frame(2, b"", False))
    wire = wire_of(frames, key)
    parser = FrameParser(expect_mask=key is not None, allowed_rsv=7)
    assert parse_all(parser, wire) == frames
    assert parser.buffered == 0


@pytest.mark.parametrize("size", EDGE_SIZES)
@pytest.mark.parametrize("key", [None, b"\x37\xfa\x21\x3d"], ids=["unmasked", "masked"])
def test_every_size_class_round_trips_with_minimal_header(size, key):
    payload = payload_of(size, size)
    wire = encode_frame(2, payload, mask_key=key)
    field = 8 if size > 65535 else 2 if size > 125 else 0
    assert len(wire) == 2 + field + (4 if key else 0) + size
    parser = FrameParser(expect_mask=key is not None)
    assert parse_all(parser, wire) == [Frame(2, payload)]


def valid_on_the_wire(code):
    """RFC 6455 §7.4 and the IANA registry, written out independently of the core."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


# Every code, with the edges of each range drawn often.
codes = st.one_of(
    st.integers(0, 65535),
    st.integers(995, 1020),
    st.integers(2995, 3005),
    st.integers(4995, 5005),
    st.sampled_from([0, 65535]),
)

reasons = st.one_of(
    st.text(max_size=40),
    st.integers(118, 130).map(lambda n: "r" * n),  # around the 123-byte edge
    st.integers(58, 66).map(lambda n: "\u03ba" * n),  # 2 bytes per character
)


@FAST
@given(code=codes)
def test_is_valid_close_code_matches_the_rfc(code):
    assert is_valid_close_code(code) == valid_on_the_wire(code)


@FAST
@given(code=codes, reason=reasons)
def test_close_payload_round_trips_for_valid_codes_only(code, reason):
    data = reason.encode()
    if not valid_on_the_wire(code):
        if code == 1005 and not reason:
            # 1005 means "no code": it goes out as an empty close payload (as in wsproto).
            assert encode_close_payload(code, reason) == b""
        else:
            with pytest.raises(LocalProtocolError):
                encode_close_payload(code, reason)
        with pytest.raises(RemoteProtocolError) as info:
            parse_close_payload(struct.pack("!H", code) + data)
        assert info.value.code == 1002
    elif len(data) > 123:
        with pytest.raises(LocalProtocolError):
            encode_close_payload(code, reason)
    else:
        assert parse_close_payload(encode_close_payload(code, reason)) == (code, reason)


close_payloads = st.one_of(
    st.binary(max_size=12),
    st.builds(
        lambda code, reason: struct.pack("!H", code) + reason,
        codes,
        st.one_of(st.binary(max_size=8), st.text(max_size=8).map(str.encode)),
    ),
)


@FAST
@given(payload=close_payloads)
def test_parse_close_payload_matches_an_independent_oracle(payload):
    if not payload:
        assert parse_close_payload(payload) == (1005, "")
        return
    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        reason = None
    if code is None or not valid_on_the_wire(code):  # 1 byte, or a code not for the wire
        with pytest.raises(RemoteProtocolError) as info:
            parse_close_payload(payload)
        assert type(info.value) is RemoteProtocolError and info.value.code == 1002
    elif reason is None:
        with pytest.raises(InvalidUTF8) as info:
            parse_close_payload(payload)
        assert info.value.code == 1007
    else:
        assert parse_close_payload(payload) == (code, reason)


@FAST
@given(
    opcode=st.sampled_from(DATA_OPCODES + CONTROL_OPCODES),
    payload=st.binary(max_size=200),
    fin=st.booleans(),
    rsv=st.integers(0, 7),
    key=maybe_keys,
)
def test_build_frame_of_a_valid_frame_equals_encode_frame(opcode, payload, fin, rsv, key):
    if opcode >= 8:
        payload, fin = payload[:125], True
    assert build_frame(opcode, payload, fin, rsv, key) == encode_frame(
        opcode, payload, fin, rsv, key
    )


# -- chunking ------------------------------------------------------------------------------


@FAST
@given(sent=valid_streams(), key=maybe_keys, data=st.data())
def test_any_chunking_parses_the_same(sent, key, data):
    wire = wire_of(sent, key)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    for stream in (False, True):
        parser = FrameParser(expect_mask=key is not None, allowed_rsv=7, stream_payload=stream)
        got = []
        for a, b in zip([0, *cuts], [*cuts, len(wire)]):
            got += parse_all(parser, wire[a:b])
            # Streaming keeps at most a header and a control frame; otherwise at most a frame.
            bound = 14 + 125 if stream else 14 + max(len(f.payload) for f in sent)
            assert parser.buffered <= bound
        assert (merge_pieces(got) if stream else got) == sent


@SLOW
@given(sent=valid_streams(max_frames=4, big=True), key=maybe_keys, data=st.data())
def test_any_chunking_of_large_frames_parses_the_same(sent, key, data):
    wire = wire_of(sent, key)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    parser = FrameParser(expect_mask=key is not None, allowed_rsv=7, stream_payload=True)
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)]):
        got += parse_all(parser, wire[a:b])
    assert merge_pieces(got) == sent


@FAST
@given(data=st.binary(max_size=300), size=st.integers(1, 400))
def test_chop_pieces_join_back_and_fit(data, size):
    pieces = chop(data, size)
    assert b"".join(pieces) == data
    assert all(0 < len(p) <= size for p in pieces)


# -- invalid frames: always 1002 or 1009, never anything else ------------------------------


def outcome(wire, **kwargs):
    """Parse wire to the end; return the frames and the error (or None)."""
    kwargs.setdefault("expect_mask", False)
    parser = FrameParser(**kwargs)
    parser.feed(wire)
    got = []
    try:
        while True:
            frame = parser.next_frame()
            if frame is None:
                return got, None
            got.append(frame)
    except RemoteProtocolError as exc:
        assert type(exc) in (RemoteProtocolError, MessageTooBig), repr(exc)
        assert exc.code == (1009 if type(exc) is MessageTooBig else 1002)
        with pytest.raises(type(exc)):  # the error sticks
            parser.next_frame()
        return got, exc


def refused(wire, code, **kwargs):
    got, exc = outcome(wire, **kwargs)
    assert got == [] and exc is not None and exc.code == code, (got, exc)


@FAST
@given(
    opcode=st.sampled_from(RESERVED_OPCODES),
    payload=st.binary(max_size=200),
    fin=st.booleans(),
    key=maybe_keys,
)
def test_reserved_opcode_is_refused_1002(opcode, payload, fin, key):
    refused(build_frame(opcode, payload, fin, 0, key), 1002, expect_mask=key is not None)


@FAST
@given(
    opcode=st.sampled_from(DATA_OPCODES + CONTROL_OPCODES),
    rsv=st.integers(1, 7),
    allowed=st.integers(0, 7),
    key=maybe_keys,
)
def test_rsv_bits_not_allowed_are_refused_1002(opcode, rsv, allowed, key):
    assume(rsv & ~allowed)
    refused(
        build_frame(opcode, b"x", True, rsv, key),
        1002,
        expect_mask=key is not None,
        allowed_rsv=allowed,
    )


@FAST
@given(
    opcode=st.sampled_from(DATA_OPCODES + CONTROL_OPCODES),
    payload=st.binary(max_size=125),
    key=keys,
)
def test_wrong_mask_for_the_role_is_refused_1002(opcode, payload, key):
    refused(build_frame(opcode, payload, mask_key=key), 1002, expect_mask=False)
    refused(build_frame(opcode, payload), 1002, expect_mask=True)


@FAST
@given(
    opcode=st.sampled_from(CONTROL_OPCODES),
    size=st.integers(126, 1000),
    size_field=st.sampled_from([None, 8]),
    key=maybe_keys,
)
def test_oversized_control_frame_is_refused_1002(opcode, size, size_field, key):
    if size_field == 8:
        size = max(size, 65536)
    wire = build_frame(opcode, b"", mask_key=key, length=size, length_size=size_field)
    refused(wire, 1002, expect_mask=key is not None)


@FAST
@given(opcode=st.sampled_from(CONTROL_OPCODES), payload=st.binary(max_size=125), key=maybe_keys)
def test_fragmented_control_frame_is_refused_1002(opcode, payload, key):
    refused(
        build_frame(opcode, payload, fin=False, mask_key=key), 1002, expect_mask=key is not None
    )


@FAST
@given(
    sequence=st.lists(st.tuples(st.sampled_from([0, 1, 2, 9]), st.booleans()), max_size=10),
    key=maybe_keys,
)
def test_fragment_order_is_checked_frame_by_frame(sequence, key):
    # The oracle: a continuation needs an unfinished message, a start needs none;
    # control frames may come anywhere.
    frames = []
    error_at = None
    in_message = False
    for i, (opcode, fin) in enumerate(sequence):
        if opcode == 9:
            frames.append(Frame(opcode, b"p"))
            continue
        frames.append(Frame(opcode, b"x", fin))
        if (opcode == 0) != in_message:
            error_at = i
            break
        in_message = not fin
    wire = b"".join(build_frame(f.opcode, f.payload, f.fin, 0, key) for f in frames)
    got, exc = outcome(wire, expect_mask=key is not None)
    if error_at is None:
        assert exc is None and got == frames
    else:
        assert exc is not None and exc.code == 1002 and got == frames[:error_at]


@FAST
@given(length=st.integers(0, 65535), length_size=st.sampled_from([2, 8]), key=maybe_keys)
def test_non_minimal_length_is_refused_1002(length, length_size, key):
    assume(length < (126 if length_size == 2 else 65536))
    wire = build_frame(2, b"", mask_key=key, length=length, length_size=length_size)
    refused(wire, 1002, expect_mask=key is not None)


@FAST
@given(length=st.integers(2**63, 2**64 - 1), key=maybe_keys, limit=st.sampled_from([None, 1000]))
def test_64_bit_length_with_top_bit_is_refused_1002(length, key, limit):
    wire = build_frame(2, b"", mask_key=key, length=length, length_size=8)
    refused(wire, 1002, expect_mask=key is not None, max_frame_size=limit)


@FAST
@given(
    limit=st.integers(0, 70000),
    extra=st.integers(1, 2**63 - 70001),
    key=maybe_keys,
    stream=st.booleans(),
)
def test_frame_over_limit_is_refused_1009_at_header(limit, extra, key, stream):
    length = limit + extra
    header = build_frame(2, b"", mask_key=key, length=length)
    parser = FrameParser(expect_mask=key is not None, max_frame_size=limit, stream_payload=stream)
    parser.feed(header[: len(header) - (4 if key else 0)])  # the mask key is not even needed
    with pytest.raises(MessageTooBig) as info:
        parser.next_frame()
    assert info.value.code == 1009
    assert parser.buffered <= 14


@FAST
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6), limit=st.integers(0, 120))
def test_message_over_limit_is_refused_1009_at_the_crossing_header(sizes, limit):
    frames = [Frame(2 if i == 0 else 0, b"m" * n, i == len(sizes) - 1) for i, n in enumerate(sizes)]
    wire = wire_of(frames, None)
    got, exc = outcome(wire, max_message_size=limit)
    total = 0
    crossing = None
    for i, n in enumerate(sizes):
        total += n
        if total > limit:
            crossing = i
            break
    if crossing is None:
        assert exc is None and got == frames
    else:
        assert exc is not None and exc.code == 1009
        assert got == frames[:crossing]


@FAST
@given(payload=st.binary(max_size=300), claim=st.integers(0, 400), key=maybe_keys)
def test_lying_length_gives_a_prefix_frame_or_waits_or_fails_cleanly(payload, claim, key):
    wire = build_frame(2, payload, mask_key=key, length=claim)
    parser = FrameParser(expect_mask=key is not None)
    parser.feed(wire)
    if claim > len(payload):
        assert parser.next_frame() is None  # the rest might still arrive
        assert parser.buffered == len(wire)
        return
    got, _ = outcome(wire, expect_mask=key is not None)
    assert got[0] == Frame(2, payload[:claim])


@FAST
@given(
    data=st.binary(max_size=400),
    expect_mask=st.booleans(),
    allowed=st.integers(0, 7),
    stream=st.booleans(),
    limit=st.sampled_from([None, 0, 10, 1000]),
    data2=st.data(),
)
def test_any_bytes_give_frames_or_1002_or_1009_only(
    data, expect_mask, allowed, stream, limit, data2
):
    cuts = sorted(data2.draw(st.lists(st.integers(0, len(data)), max_size=5)))
    parser = FrameParser(expect_mask, limit, limit, allowed, stream)
    try:
        for a, b in zip([0, *cuts], [*cuts, len(data)]):
            parse_all(parser, data[a:b])
            # What is left is one unfinished frame: a header, and a payload within the
            # limit (control frames: 125 bytes); when streaming, data payloads go out at once.
            if stream:
                assert parser.buffered <= 14 + 125
            elif limit is not None:
                assert parser.buffered <= 14 + max(limit, 125)
    except RemoteProtocolError as exc:
        assert type(exc) in (RemoteProtocolError, MessageTooBig)
        assert exc.code == (1009 if type(exc) is MessageTooBig else 1002)


# -- masking -------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=2000), key=keys, offset=st.integers(0, 3))
def test_mask_equals_naive_xor_at_every_offset(data, key, offset):
    assert mask(data, key, offset) == naive_mask(data, key, offset)


@FAST
@given(data=st.binary(max_size=2000), key=keys, offset=st.integers(0, 64))
def test_mask_is_an_involution(data, key, offset):
    assert mask(mask(data, key, offset), key, offset) == data


@FAST
@given(data=st.binary(max_size=500), key=keys, cut=st.integers(0, 500))
def test_mask_in_two_parts_equals_mask_of_the_whole(data, key, cut):
    cut = min(cut, len(data))
    assert mask(data[:cut], key) + mask(data[cut:], key, cut) == mask(data, key)


def test_mask_of_a_large_payload_equals_naive_xor():
    data = payload_of(200 * 1024 + 3, 7)
    key = b"\x37\xfa\x21\x3d"
    for offset in range(4):
        assert mask(data, key, offset) == naive_mask(data, key, offset)
