"""permessage-deflate (RFC 7692), property-based, through a real client/server pair.

Round trip: any messages (text and binary, empty to a few KiB, compressible and random),
sent whole or streamed in pieces with pings between them, arrive exactly as sent whatever
the chunking of the wire bytes, in both directions, for every no_context_takeover pair
and window size. Fuzz invariant: any frames with RSV1 give events or one 1002/1007/1009
violation, never another exception, and nothing after the violation.
"""

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto_lite import WSConnection
from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    ProtocolViolation,
    Request,
    TextMessage,
)
from wsproto_lite.extensions import PerMessageDeflate

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
KEY = b"\x37\xfa\x21\x3d"
TAIL = b"\x00\x00\xff\xff"


def random_bytes(n):
    return bytes(range(16)) if n == 16 else KEY[:n]


def deflate_pair(client_cfg, server_cfg, **kwargs):
    """A client and a server WSConnection with permessage-deflate agreed, over bytes."""
    client = WSConnection(CLIENT, random_bytes=random_bytes, **kwargs)
    server = WSConnection(SERVER, random_bytes=random_bytes, **kwargs)
    offer = PerMessageDeflate(**client_cfg)
    server.receive_data(client.send(Request(host="h", target="/", extensions=[offer])))
    assert [type(e) for e in server.events()] == [Request]
    client.receive_data(server.send(AcceptConnection(extensions=[PerMessageDeflate(**server_cfg)])))
    assert [type(e) for e in client.events()] == [AcceptConnection]
    assert client.connection.extensions and client.connection.extensions[0].enabled()
    assert server.connection.extensions and server.connection.extensions[0].enabled()
    return client, server


def merge(events):
    """Message pieces joined into whole messages, placed where their last piece was."""
    out = []
    parts = []
    kind = None
    for event in events:
        if isinstance(event, (TextMessage, BytesMessage)):
            assert kind is None or type(event) is kind, events
            kind = type(event)
            parts.append(event.data)
            if event.message_finished:
                out.append(kind(("" if kind is TextMessage else b"").join(parts)))
                parts = []
                kind = None
        else:
            out.append(event)
    assert kind is None, "a message never finished: %r" % (events,)
    return out


def chunks(wire, cuts):
    points = sorted({c % (len(wire) + 1) for c in cuts})
    return [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)])]


small_text = st.text(max_size=200)
small_binary = st.binary(max_size=3000)
compressible_text = st.builds(
    lambda unit, n: unit * n, st.text(min_size=1, max_size=12), st.integers(0, 300)
).map(lambda t: t[:3000])
compressible_binary = st.builds(
    lambda unit, n: unit * n, st.binary(min_size=1, max_size=16), st.integers(0, 256)
)
payloads = st.one_of(small_text, small_binary, compressible_text, compressible_binary)
window_bits = st.sampled_from([None, 8, 9, 12, 15])

# Each message: its data, the cut points of its pieces, and where pings go between them.
messages = st.lists(
    st.tuples(
        payloads,
        st.lists(st.integers(0, 1 << 12), max_size=4),
        st.lists(st.booleans(), max_size=5),
    ),
    max_size=4,
)


def send_all(sender, plan):
    """Send each message of `plan` in pieces, pings between some; return (wire, expected)."""
    wire = b""
    expected = []
    for n, (data, cuts, pings) in enumerate(plan):
        pieces = chunks(data, cuts)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            wire += sender.send(Message(data=piece, message_finished=last))
            if not last and i < len(pings) and pings[i]:
                payload = b"%d.%d" % (n, i)
                wire += sender.send(Ping(payload))
                expected.append(Ping(payload))
        expected.append(TextMessage(data) if isinstance(data, str) else BytesMessage(data))
    return wire, expected


@pytest.mark.parametrize("sender_kind", [CLIENT, SERVER], ids=["client_sends", "server_sends"])
@pytest.mark.parametrize(
    ("client_nct", "server_nct"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["takeover", "client_nct", "server_nct", "both_nct"],
)
@settings(max_examples=60)
@given(
    plan=messages,
    cuts=st.lists(st.integers(0, 1 << 16), max_size=10),
    client_bits=window_bits,
    server_bits=window_bits,
    whole_messages=st.booleans(),
)
def test_any_messages_round_trip_in_any_fragmenting_and_chunking(
    sender_kind, client_nct, server_nct, plan, cuts, client_bits, server_bits, whole_messages
):
    client_cfg = {
        "client_no_context_takeover": client_nct,
        "server_no_context_takeover": server_nct,
        "client_max_window_bits": client_bits,
        "server_max_window_bits": server_bits,
    }
    client, server = deflate_pair(
        client_cfg, {}, whole_messages=whole_messages, max_message_size=1 << 16
    )
    sender, receiver = (client, server) if sender_kind is CLIENT else (server, client)
    wire, expected = send_all(sender, plan)
    got = []
    for chunk in chunks(wire, cuts):
        receiver.receive_data(chunk)
        got.extend(receiver.events())
    assert merge(got) == expected
    assert receiver.state is ConnectionState.OPEN
    if whole_messages:
        assert got == expected


@settings(max_examples=60)
@given(
    plan=st.lists(st.tuples(st.booleans(), payloads), max_size=8),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=6),
    client_nct=st.booleans(),
    server_nct=st.booleans(),
)
def test_both_directions_interleaved_round_trip(plan, cuts, client_nct, server_nct):
    # Each side's compressor and decompressor are separate contexts: traffic one way
    # never disturbs the other.
    client, server = deflate_pair(
        {"client_no_context_takeover": client_nct, "server_no_context_takeover": server_nct},
        {},
    )
    to_server = b""
    to_client = b""
    expect_server = []
    expect_client = []
    for from_client, data in plan:
        event = TextMessage(data) if isinstance(data, str) else BytesMessage(data)
        if from_client:
            to_server += client.send(Message(data=data))
            expect_server.append(event)
        else:
            to_client += server.send(Message(data=data))
            expect_client.append(event)
    for conn, wire, expected in (
        (server, to_server, expect_server),
        (client, to_client, expect_client),
    ):
        got = []
        for chunk in chunks(wire, cuts):
            conn.receive_data(chunk)
            got.extend(conn.events())
        assert merge(got) == expected


def fuzz_frame(opcode, fin, rsv1, payload):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    head = bytes([b0, n]) if n < 126 else bytes([b0, 126]) + n.to_bytes(2, "big")
    return head + payload


def compressed(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


# Payloads a compressed frame may carry: real deflate output (maybe mutated or cut), or junk.
deflate_payloads = st.one_of(
    st.binary(max_size=64),
    compressible_binary.map(compressed),
    st.tuples(
        compressible_binary.map(compressed), st.integers(0, 1 << 12), st.integers(0, 255)
    ).map(
        lambda t: (
            t[0][: t[1] % (len(t[0]) + 1)] + bytes([t[2]]) + t[0][t[1] % (len(t[0]) + 1) + 1 :]
        )
    ),
    st.just(compressed(b"\0" * 50000)),  # inflates past the limit below
)
fuzz_frames = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2, 9, 10]), st.booleans(), st.booleans(), deflate_payloads
    ).map(lambda t: fuzz_frame(t[0], t[1] or t[0] >= 8, t[2], t[3][:125] if t[0] >= 8 else t[3])),
    max_size=6,
)


@settings(max_examples=300)
@given(
    frames=fuzz_frames,
    cuts=st.lists(st.integers(0, 1 << 16), max_size=6),
    receiver_kind=st.sampled_from([CLIENT, SERVER]),
    whole_messages=st.booleans(),
)
def test_any_frames_give_events_or_one_violation(frames, cuts, receiver_kind, whole_messages):
    limit = 4096
    client, server = deflate_pair({}, {}, max_message_size=limit, whole_messages=whole_messages)
    conn = client if receiver_kind is CLIENT else server
    wire = b"".join(frames)
    if receiver_kind is SERVER:  # clients mask: hand-mask with KEY
        masked = b""
        for f in frames:
            n7 = f[1] & 0x7F
            head = 4 if n7 == 126 else 2
            body = bytes(c ^ KEY[i % 4] for i, c in enumerate(f[head:]))
            masked += bytes([f[0], f[1] | 0x80]) + f[2:head] + KEY + body
        wire = masked
    got = []
    for chunk in chunks(wire, cuts):
        conn.receive_data(chunk)
        got.extend(conn.events())
    violations = [i for i, e in enumerate(got) if isinstance(e, CloseConnection)]
    if violations:
        # One close or violation, the last event; nothing is parsed after it.
        assert violations == [len(got) - 1], got
        last = got[-1]
        if isinstance(last, ProtocolViolation):
            assert last.code in (1002, 1007, 1009), last
    for event in got:
        if isinstance(event, (TextMessage, BytesMessage)) and whole_messages:
            size = len(event.data.encode()) if isinstance(event.data, str) else len(event.data)
            assert size <= limit
    if violations and isinstance(got[-1], ProtocolViolation):
        assert conn.state is ConnectionState.REMOTE_CLOSING
        conn.receive_data(wire)  # more bytes after the violation: never parsed
        assert list(conn.events()) == []
