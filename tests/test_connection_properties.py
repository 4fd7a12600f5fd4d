"""Properties of wsproto_lite.connection.Connection under any bytes.

The fuzz invariant: any bytes, in any chunking, give events or a 1002/1007/1009
violation, never another exception, never a buffer beyond the limits; the state only
moves forward; nothing follows a CloseConnection; with automatic replies the outbox
ends with our close frame carrying the violation's code.
"""

import struct

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wsproto_lite.connection import Connection, ConnectionState, ConnectionType
from wsproto_lite.errors import LocalProtocolError
from wsproto_lite.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    SizeViolation,
    TextMessage,
    Utf8Violation,
)
from wsproto_lite.frames import is_valid_close_code

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
CS = ConnectionState
RANK = {CS.OPEN: 1, CS.REMOTE_CLOSING: 2, CS.LOCAL_CLOSING: 2, CS.CLOSED: 3}
VIOLATION_CODES = {ProtocolViolation: 1002, Utf8Violation: 1007, SizeViolation: 1009}
ALLOWED = (TextMessage, BytesMessage, Ping, Pong, CloseConnection, *VIOLATION_CODES)

keys = st.binary(min_size=4, max_size=4)
roles = st.sampled_from([SERVER, CLIENT])


def other(role):
    return CLIENT if role is SERVER else SERVER


def read_frames(data, masked):
    """Our own output, parsed by the peer: [(opcode, payload)]; it must be well formed."""
    out = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0x70 == 0 and bool(b1 & 0x80) == masked
        n = b1 & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        key = data[pos : pos + 4] if masked else b""
        pos += len(key)
        payload = data[pos : pos + n]
        assert len(payload) == n
        pos += n
        if masked:
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        out.append((b0 & 0x0F, payload))
    return out


@st.composite
def conversations(draw):
    """Events a correct peer sends, and the complete messages they amount to."""
    events = []
    messages = []
    for _ in range(draw(st.integers(0, 8))):
        what = draw(st.sampled_from(["text", "bytes", "ping", "pong", "fragments"]))
        if what == "text":
            text = draw(st.text(max_size=40))
            events.append(TextMessage(text))
            messages.append(text)
        elif what == "bytes":
            data = draw(
                st.one_of(st.binary(max_size=300), st.sampled_from([b"x" * 126, b"y" * 70000]))
            )
            events.append(BytesMessage(data))
            messages.append(data)
        elif what == "ping":
            events.append(Ping(draw(st.binary(max_size=125))))
        elif what == "pong":
            events.append(Pong(draw(st.binary(max_size=125))))
        else:
            text = draw(st.booleans())
            part = st.text(max_size=20) if text else st.binary(max_size=40)
            parts = draw(st.lists(part, min_size=1, max_size=4))
            for i, p in enumerate(parts):
                last = i == len(parts) - 1
                events.append((TextMessage if text else BytesMessage)(p, message_finished=last))
                if not last and draw(st.booleans()):
                    events.append(Ping(b"between"))
            messages.append(("" if text else b"").join(parts))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999, 1005]))
        events.append(CloseConnection(code, draw(st.text(max_size=10)) if code != 1005 else None))
    return events, messages


def wire_from(role, events, key):
    """The bytes a `role` sender puts on the wire for events (its mask key fixed to key)."""
    sender = Connection(role, random_bytes=lambda n: key[:n])
    return b"".join(sender.send(e) for e in events)


def cut(data, draw, max_cuts=12):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_cuts)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


def merged_messages(events):
    out = []
    parts = []
    for e in events:
        if isinstance(e, Message):
            parts.append(e.data)
            if e.message_finished:
                out.append(("" if isinstance(e, TextMessage) else b"").join(parts))
                parts = []
    return out


@st.composite
def mutated(draw, wire):
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "set"]))
        i = draw(st.integers(0, len(data)))
        if op == "flip" and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and i < len(data):
            data[i] = draw(st.sampled_from([0x00, 0x7E, 0x7F, 0x80, 0xFF, 0x88, 0x09, 0x0A]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[i:]
        elif op == "duplicate":
            j = draw(st.integers(i, len(data)))
            data[j:j] = data[i:j]
    return bytes(data)


class Checked:
    """A Connection fed chunk by chunk, with every invariant checked after each call."""

    def __init__(self, role, **kwargs):
        self.role = role
        self.kwargs = kwargs
        self.conn = Connection(role, random_bytes=lambda n: b"\x37\xfa\x21\x3d"[:n], **kwargs)
        self.events = []
        self.out = b""
        limit = kwargs.get("max_frame_size") or kwargs.get("max_message_size", 1 << 20)
        self.frame_limit = limit

    def receive(self, chunk):
        before = self.conn.state
        closed_before = self.closed
        buffered_before = self.conn.buffered
        if before is CS.CLOSED and chunk is not None and not self.kwargs.get("auto_reply"):
            # As in wsproto: bytes fed once CLOSED raise LocalProtocolError, change nothing.
            try:
                self.conn.receive_data(chunk)
            except LocalProtocolError:
                assert self.conn.state is CS.CLOSED and self.conn.buffered == buffered_before
                assert list(self.conn.events()) == [] and self.conn.data_to_send() == b""
                return
            raise AssertionError("bytes fed in state CLOSED were taken")
        self.conn.receive_data(chunk)  # must never raise for peer input
        got = list(self.conn.events())
        self.out += self.conn.data_to_send()
        state = self.conn.state
        assert RANK[state] >= RANK[before], (before, state)
        if before in (CS.REMOTE_CLOSING, CS.LOCAL_CLOSING):
            assert state in (before, CS.CLOSED)
        if closed_before:
            assert got == [], "events after a CloseConnection: %r" % got
        for i, event in enumerate(got):
            assert type(event) in ALLOWED, event
            if isinstance(event, CloseConnection):
                assert i == len(got) - 1, "events after a CloseConnection: %r" % got
                self._check_close(event, before, chunk is None)
        self.events.extend(got)
        buffered = self.conn.buffered
        if before not in (CS.OPEN, CS.LOCAL_CLOSING) or chunk is None:
            assert buffered == buffered_before  # ignored: not even stored
        else:
            # One unfinished frame's header and payload (control frames: 125 bytes), plus
            # this feed when a violation stopped the parsing inside it.
            assert buffered <= max(self.frame_limit or 0, 125) + 14 + len(chunk)
        return got

    @property
    def closed(self):
        return any(isinstance(e, CloseConnection) for e in self.events)

    def _check_close(self, event, before, eof):
        if type(event) in VIOLATION_CODES:
            assert event.code == VIOLATION_CODES[type(event)]
            assert not eof
        elif eof:
            assert event.code == 1006 and before in (CS.OPEN, CS.LOCAL_CLOSING)
        else:
            assert event.code == 1005 or is_valid_close_code(event.code), event
        state = self.conn.state
        if eof or before is CS.LOCAL_CLOSING:
            assert state is CS.CLOSED
            return
        if self.kwargs.get("auto_reply"):
            assert state is CS.CLOSED
            frames = read_frames(self.out, masked=self.role is CLIENT)
            assert frames and frames[-1][0] == 8, frames
            payload = frames[-1][1]
            if event.code == 1005:
                assert payload == b""
            else:
                assert struct.unpack("!H", payload[:2])[0] == event.code
        else:
            assert state is CS.REMOTE_CLOSING


connection_options = st.fixed_dictionaries(
    {
        "auto_reply": st.booleans(),
        "whole_messages": st.booleans(),
        "max_message_size": st.sampled_from([None, 0, 16, 1000, 1 << 20]),
        "max_frame_size": st.sampled_from([None, 8, 100, 70000]),
    }
)


def run(role, chunks, options, eof, local_close=False):
    checked = Checked(role, **options)
    if local_close:
        checked.conn.send(CloseConnection(1000))
        assert checked.conn.state is CS.LOCAL_CLOSING
    for chunk in chunks:
        checked.receive(chunk)
    if eof:
        state = checked.conn.state
        got = checked.receive(None)
        if state in (CS.OPEN, CS.LOCAL_CLOSING):
            assert got == [CloseConnection(1006)]
        else:
            assert got == []
        assert checked.conn.state is CS.CLOSED
    if local_close:
        assert checked.out == b"", "sent after our close frame: %r" % checked.out
    return checked


@SETTINGS
@given(
    role=roles,
    data=st.binary(max_size=400),
    options=connection_options,
    eof=st.booleans(),
    local_close=st.booleans(),
    draw=st.data(),
)
def test_random_bytes_never_raise_and_keep_every_invariant(
    role, data, options, eof, local_close, draw
):
    run(role, cut(data, draw.draw), options, eof, local_close)


@SETTINGS
@given(
    role=roles,
    conversation=conversations(),
    key=keys,
    options=connection_options,
    eof=st.booleans(),
    local_close=st.booleans(),
    draw=st.data(),
)
def test_mutated_streams_never_raise_and_keep_every_invariant(
    role, conversation, key, options, eof, local_close, draw
):
    wire = wire_from(other(role), conversation[0], key)
    bad = draw.draw(mutated(wire))
    run(role, cut(bad, draw.draw), options, eof, local_close)


@SETTINGS
@given(role=roles, conversation=conversations(), key=keys, auto_reply=st.booleans(), draw=st.data())
def test_any_chunking_of_a_valid_stream_gives_the_same_messages(
    role, conversation, key, auto_reply, draw
):
    events, messages = conversation
    wire = wire_from(other(role), events, key)
    options = {"auto_reply": auto_reply, "whole_messages": False, "max_message_size": None}
    whole = run(role, [wire], options, eof=False)
    chunked = run(role, cut(wire, draw.draw), options, eof=False)
    assert merged_messages(whole.events) == messages
    assert merged_messages(chunked.events) == messages
    controls = [e for e in whole.events if not isinstance(e, Message)]
    assert [e for e in chunked.events if not isinstance(e, Message)] == controls
    assert chunked.out == whole.out  # the same automatic replies, byte for byte
    assert chunked.conn.state is whole.conn.state
    assert not any(type(e) in VIOLATION_CODES for e in whole.events)


@SETTINGS
@given(conversation=conversations(), key=keys)
def test_client_masks_every_frame_with_the_injected_key(conversation, key):
    events = conversation[0]
    assume(events)
    client = Connection(CLIENT, random_bytes=lambda n: key[:n])
    server = Connection(SERVER)
    for event in events:
        wire = client.send(event)
        n7 = wire[1] & 0x7F
        head = 4 if n7 == 126 else 10 if n7 == 127 else 2
        assert wire[1] & 0x80 and wire[head : head + 4] == key
        plain = bytes(b ^ key[i & 3] for i, b in enumerate(wire[head + 4 :]))
        # The same frame, unmasked, is exactly what a server sends for the event.
        assert server.send(event) == bytes((wire[0], n7)) + wire[2:head] + plain


@SETTINGS
@given(
    role=roles,
    pieces=st.lists(
        st.one_of(st.binary(max_size=12), st.text(max_size=6).map(str.encode)),
        min_size=1,
        max_size=5,
    ),
    whole_messages=st.booleans(),
    key=keys,
    draw=st.data(),
)
def test_text_validity_matches_strict_utf8_under_any_fragmentation(
    role, pieces, whole_messages, key, draw
):
    payload = b"".join(pieces)
    wire = b""
    for i, piece in enumerate(pieces):  # frames written by hand: the encoder is not under test
        b0 = (0x80 if i == len(pieces) - 1 else 0) | (1 if i == 0 else 0)
        if role is SERVER:  # masked with the test's own per-byte XOR
            masked = bytes(b ^ key[j & 3] for j, b in enumerate(piece))
            wire += bytes((b0, 0x80 | len(piece))) + key + masked
        else:
            wire += bytes((b0, len(piece))) + piece
    checked = run(role, cut(wire, draw.draw), {"whole_messages": whole_messages}, eof=False)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        *before, last = checked.events
        assert type(last) is Utf8Violation
        assert all(type(e) is TextMessage and not e.message_finished for e in before)
        assert not (whole_messages and before)
        assert payload.startswith("".join(e.data for e in before).encode())
    else:
        assert merged_messages(checked.events) == [text]
        assert not any(isinstance(e, CloseConnection) for e in checked.events)


@SETTINGS
@given(role=roles, conversation=conversations(), key=keys, draw=st.data())
def test_whole_messages_mode_gives_the_same_messages_as_pieces(role, conversation, key, draw):
    events, messages = conversation
    wire = wire_from(other(role), events, key)
    chunks = cut(wire, draw.draw)
    pieces = run(role, chunks, {"whole_messages": False}, eof=False)
    whole = run(role, chunks, {"whole_messages": True}, eof=False)
    got = [e.data for e in whole.events if isinstance(e, Message)]
    assert all(
        e.frame_finished and e.message_finished for e in whole.events if isinstance(e, Message)
    )
    assert got == merged_messages(pieces.events) == messages
    assert [e for e in whole.events if not isinstance(e, Message)] == [
        e for e in pieces.events if not isinstance(e, Message)
    ]


@SETTINGS
@given(
    role=roles, conversation=conversations(), key=keys, limit=st.integers(0, 400), draw=st.data()
)
def test_message_limit_gives_1009_exactly_when_a_message_is_over_it(
    role, conversation, key, limit, draw
):
    events, messages = conversation
    wire = wire_from(other(role), events, key)
    checked = run(
        role, cut(wire, draw.draw), {"max_message_size": limit, "auto_reply": True}, eof=False
    )
    sizes = [len(m.encode() if isinstance(m, str) else m) for m in messages]
    delivered = merged_messages(checked.events)
    if all(n <= limit for n in sizes):
        assert delivered == messages
        assert not any(isinstance(e, SizeViolation) for e in checked.events)
    else:
        first_big = next(i for i, n in enumerate(sizes) if n > limit)
        assert delivered == messages[:first_big]
        assert isinstance(checked.events[-1], SizeViolation)
