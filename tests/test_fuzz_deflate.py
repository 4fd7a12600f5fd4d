"""The deflate fuzz harness (fuzz/deflate_oracle.py) without atheris, and what it cannot
check cheaply: exact close codes for hand-made bad streams, and peak memory for bombs.

The seed corpus replays through the harness's oracle here (tests/test_fuzz_mutator.py
also runs it on hypothesis-chosen mutants). Payloads are literal RFC 7692 bytes or made
with plain zlib, never with the compressor under test.
"""

import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import formats, make_corpus, oracles  # noqa: E402
from fuzz.deflate_oracle import negotiate, run_deflate  # noqa: E402
from wsproto_lite.connection import Connection, ConnectionState, ConnectionType  # noqa: E402
from wsproto_lite.events import (  # noqa: E402
    BytesMessage,
    ProtocolViolation,
    SizeViolation,
    Utf8Violation,
)
from wsproto_lite.frames import FrameParser, build_frame, chop, parse_close_payload  # noqa: E402

KEY = b"\x37\xfa\x21\x3d"
CORPUS = ROOT / "fuzz" / "corpus" / "deflate"
HELLO = b"\xf2\x48\xcd\xc9\xc9\x07\x00"  # RFC 7692 §7.2.3.1
S = ConnectionState
ORDER = {S.OPEN: 0, S.LOCAL_CLOSING: 1, S.REMOTE_CLOSING: 1, S.CLOSED: 2}


def raw_deflate(data: bytes, level: int = 9) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_deflate_corpus_replays_through_the_oracle(path):
    oracles.TARGETS["deflate"](path.read_bytes())


def test_deflate_seeds_cover_both_roles_and_both_paths():
    seeds = make_corpus.seeds()["deflate"]
    assert {data[0] & 1 for data in seeds.values()} == {0, 1}
    assert {data[0] & 0x40 for data in seeds.values()} == {0, 0x40}


LONG = raw_deflate(b"the quick brown fox " * 20, 6)
BAD_STREAMS = {
    # name: (frames as (opcode, payload, fin, rsv), the violation, its code)
    "garbage": ([(2, b"\xff\xfe\xfd", True, 4)], ProtocolViolation, 1007),
    "truncated-block": ([(1, LONG[: len(LONG) // 2], True, 4)], ProtocolViolation, 1007),
    "after-final-block": ([(1, b"\xf3\x48\xcd\xc9\xc9\x07\x00\x00\x00", True, 4)], None, 1007),
    "bomb": ([(2, raw_deflate(bytes(1 << 20)), True, 4)], SizeViolation, 1009),
    "fragmented-bomb": (
        [(2, raw_deflate(bytes(1 << 20))[:300], False, 4), (0, b"", True, 0)],
        SizeViolation,
        1009,
    ),
    "rsv1-continuation": (
        [(1, HELLO[:3], False, 4), (0, HELLO[3:], True, 4)],
        ProtocolViolation,
        1002,
    ),
    "rsv1-ping": ([(1, HELLO[:3], False, 4), (9, b"", True, 4)], ProtocolViolation, 1002),
    "rsv2": ([(2, b"x", True, 2)], ProtocolViolation, 1002),
    "bad-utf8-inflated": ([(1, raw_deflate(b"ok\xed\xa0\x80"), True, 4)], Utf8Violation, 1007),
}


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("hooked", [False, True], ids=["direct", "hooks"])
@pytest.mark.parametrize("way", ["whole", "bytewise", "trailing"])
def test_bad_compressed_stream_ends_with_its_close_code(name, client, hooked, way):
    frames, kind, code = BAD_STREAMS[name]
    key = None if client else KEY
    wire = b"".join(build_frame(op, p, fin, rsv, key) for op, p, fin, rsv in frames)
    if way == "trailing":
        wire += build_frame(1, HELLO, True, 4, key)  # must never be parsed
    client_ext, server_ext = negotiate(0, 6, hooked)
    conn = Connection(
        ConnectionType.CLIENT if client else ConnectionType.SERVER,
        extensions=[client_ext if client else server_ext],
        max_message_size=1000,
        auto_reply=True,
        whole_messages=True,
    )
    events = []
    state = conn.state
    for piece in chop(wire, 1) if way == "bytewise" else [wire]:
        conn.receive_data(piece)
        for event in conn.events():
            events.append(event)
            assert ORDER[conn.state] >= ORDER[state]
            state = conn.state
    assert len(events) == 1, events
    violation = events[0]
    assert type(violation) is (kind or ProtocolViolation)
    assert violation.code == code
    assert conn.state is S.CLOSED  # auto_reply: our close went out at once
    peer = FrameParser(expect_mask=client)
    peer.feed(conn.data_to_send())
    close = peer.next_frame()
    assert close is not None and close.opcode == 8
    assert parse_close_payload(close.payload)[0] == code
    assert list(conn.events()) == []


# A bomb's inflated size is what matters: each inflates to at least 16 times the limit.
@pytest.mark.parametrize("limit", [1000, 65536, 1 << 20])
@pytest.mark.parametrize("hooked", [False, True], ids=["direct", "hooks"])
@pytest.mark.parametrize("fragments", [1, 7])
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
def test_bomb_costs_the_limit_and_no_more(limit, hooked, fragments, whole):
    _, server_ext = negotiate(0, 6, hooked)
    conn = Connection(
        ConnectionType.SERVER,
        extensions=[server_ext],
        max_message_size=limit,
        whole_messages=whole,
    )
    wire = raw_deflate(bytes(max(64 * limit, 16 << 20)))
    wire = wire[: conn._parser.max_message_size]  # within the limit on the wire
    step = -(-len(wire) // fragments)
    pieces = [wire[i : i + step] for i in range(0, len(wire), step)]
    frames = b"".join(
        build_frame(0 if i else 2, p, i == len(pieces) - 1, 0 if i else 4, KEY)
        for i, p in enumerate(pieces)
    )
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        conn.receive_data(frames)
        delivered = 0
        events = []
        for event in conn.events():
            if isinstance(event, BytesMessage):
                delivered += len(event.data)
            else:
                events.append(event)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert [type(e) for e in events] == [SizeViolation]
    assert delivered <= limit
    # The frames themselves (and one copy), the limit, and zlib's state and steps.
    assert peak <= limit + 2 * len(frames) + (320 << 10), (peak, limit, len(frames))


MESSAGES = st.lists(
    st.tuples(st.booleans(), st.binary(max_size=120), st.lists(st.integers(0, 120), max_size=3)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(MESSAGES, st.integers(0, 255), st.integers(0, 255), st.integers(0, 2))
def test_messages_sent_compressed_come_back_equal(messages, c0, c1, cuts):
    """Messages (text or bytes, cut into fragments), no_context_takeover and window
    choices from hypothesis; run_deflate checks that the peer gets them back equal."""
    records = []
    for text, data, fragments in messages:
        # Text is cut between code points (latin-1 to str, then UTF-8: up to 240 bytes).
        bounds = sorted({min(f, len(data)) for f in fragments} | {len(data)})
        start = 0
        for end in bounds:
            last = end == len(data)
            kind = ("text" if text else "bytes") + ("" if last else "_fragment")
            chunk = data[start:end].decode("latin-1").encode() if text else data[start:end]
            records.append(formats.send(kind, chunk))
            start = end
        if cuts:
            records.append(formats.data_to_send())
    c0 = (c0 & ~0x38) | 7 << 3  # no message limit: every message must come back
    w = run_deflate(bytes((c0, c1)) + formats.encode_records(records))
    assert len(w.mirror_messages) == len(messages)
    for (text, data, _), (got_text, got) in zip(messages, w.mirror_messages):
        assert got_text == text
        assert got == (data.decode("latin-1").encode("utf-8") if text else data)


def test_message_within_the_limit_in_small_compressed_fragments_is_accepted():
    """Found by the deflate harness's peer check (invariant 3): each compressed fragment
    carries a sync flush, so 200 bytes sent as 200 one-byte fragments take about 1400 bytes
    of payload on the wire, over the 1204 bytes a 1000-byte limit allows there."""
    client_ext, server_ext = negotiate(0, 6, False)
    client = Connection(ConnectionType.CLIENT, extensions=[client_ext], random_bytes=lambda n: KEY)
    server = Connection(
        ConnectionType.SERVER, extensions=[server_ext], max_message_size=1000, whole_messages=True
    )
    for i in range(200):
        server.receive_data(client.send(BytesMessage(b"x", message_finished=i == 199)))
    assert list(server.events()) == [BytesMessage(b"x" * 200)]
