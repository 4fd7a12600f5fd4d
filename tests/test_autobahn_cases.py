"""Autobahn|Testsuite categories 1-7 and 10, one test per case intent, at the sans-IO layer.

Each test plays the fuzzing peer: it writes the case's frames with the small frame
writer below (independent of wsproto_lite's encoder), feeds them to our Connection
the way the case chops them, and checks what an echo application on top of it sends
back. Both roles run every case: "server" is what `wstest -m fuzzingclient` meets,
"client" what `wstest -m fuzzingserver` meets. Where Autobahn grades a case OK or
NON-STRICT, these tests ask for OK.
"""

import struct

import pytest

from wsproto_lite.connection import Connection, ConnectionState, ConnectionType
from wsproto_lite.errors import LocalProtocolError
from wsproto_lite.events import (
    CloseConnection,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    SizeViolation,
    TextMessage,
    Utf8Violation,
)

KEY = b"\x37\xfa\x21\x3d"
SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
OPEN = ConnectionState.OPEN
CLOSED = ConnectionState.CLOSED
TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
VIOLATIONS = {1002: ProtocolViolation, 1007: Utf8Violation, 1009: SizeViolation}

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε"
UTF8_VALID_621 = "Hello-µ@ßöäüàá-UTF-8!!".encode()
UTF8_INVALID_641 = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # U+110000: bad at index 12
UTF8_INVALID_631 = KOSME + b"\xed\xa0\x80" + b"edited"  # a surrogate: bad at index 12


# -- the fuzzing peer's side: writes frames, reads our replies -----------------------------


def xor(data, key):
    """Per-byte XOR: the test's own masking, sharing nothing with wsproto_lite.frames.mask."""
    return bytes(b ^ key[i & 3] for i, b in enumerate(data))


def frame(opcode, payload=b"", fin=True, rsv=0):
    """An unmasked frame with a minimal length field (any opcode, any RSV bits)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = bytes((b0, n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def on_wire(role, data):
    """What the peer sends to our `role`: masked towards our server, plain towards our client."""
    if role is CLIENT:
        return data
    n7 = data[1] & 0x7F
    head = 4 if n7 == 126 else 10 if n7 == 127 else 2
    return bytes((data[0], data[1] | 0x80)) + data[2:head] + KEY + xor(data[head:], KEY)


def read_frames(data, masked):
    """Our replies, parsed by the peer: [(opcode, payload, fin)], checking every header rule."""
    frames = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0x70 == 0, "RSV bits in %r" % data[pos : pos + 2]
        assert bool(b1 & 0x80) == masked, "mask bit wrong for our role"
        n = b1 & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
            assert n >= 126, "non-minimal 16-bit length"
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
            assert n >= 65536, "non-minimal 64-bit length"
        key = b""
        if masked:
            key = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + n]
        assert len(payload) == n, "truncated frame in our output"
        pos += n
        frames.append((b0 & 0x0F, xor(payload, key) if masked else payload, bool(b0 & 0x80)))
    return frames


def octets(data):
    return [data[i : i + 1] for i in range(len(data))]


def chops(data, size):
    return [data[i : i + size] for i in range(0, len(data), size)]


class Peer:
    """Our Connection under test, with automatic replies and an echo application on top.

    The application sees events one at a time, in order, and knows only what they
    told it: it echoes each complete message unless it has already seen a close.
    """

    def __init__(self, role, **kwargs):
        self.role = role
        self.conn = Connection(role, auto_reply=True, random_bytes=lambda n: KEY[:n], **kwargs)
        self.events = []
        self.messages = []
        self.out = b""
        self.send_errors = []
        self._parts = []
        self._saw_close = False

    def feed(self, chunks):
        """Feed each chunk in its own receive_data(); return the events per chunk."""
        per_chunk = []
        for chunk in chunks:
            self.conn.receive_data(chunk)
            got = []
            for event in self.conn.events():
                got.append(event)
                self._app(event)
            self.events.extend(got)
            self.out += self.conn.data_to_send()
            per_chunk.append(got)
        return per_chunk

    def _app(self, event):
        if isinstance(event, CloseConnection):
            self._saw_close = True
            self._parts = []
        elif isinstance(event, Message):
            self._parts.append(event.data)
            if event.message_finished:
                empty = "" if isinstance(event, TextMessage) else b""
                data = empty.join(self._parts)
                self._parts = []
                self.messages.append(data)
                if not self._saw_close:
                    try:
                        self.out += self.conn.send(Message(data))
                    except LocalProtocolError as exc:
                        self.send_errors.append(exc)

    @property
    def frames(self):
        return read_frames(self.out, masked=self.role is CLIENT)

    @property
    def replies(self):
        """Our replies: (opcode, payload) per frame, ("close", code) for a close frame."""
        out = []
        for opcode, payload, fin in self.frames:
            assert fin, "the echo application never fragments"
            if opcode == CLOSE:
                out.append(("close", struct.unpack("!H", payload[:2])[0] if payload else None))
            else:
                out.append((opcode, payload))
        return out


def echoed(message):
    if isinstance(message, str):
        return (TEXT, message.encode())
    return (BINARY, message)


def assert_echo_possible(peer):
    assert not peer.send_errors, (
        "the application could not answer a message that arrived before the close or the "
        "bad frame: %r" % peer.send_errors
    )


def assert_failed(peer, code, replies_before=()):
    """The connection was failed with `code`: one violation event, last; our close last."""
    closes = [e for e in peer.events if isinstance(e, CloseConnection)]
    assert len(closes) == 1 and peer.events[-1] is closes[0], peer.events
    assert type(closes[0]) is VIOLATIONS[code] and closes[0].code == code, closes[0]
    assert_echo_possible(peer)
    assert peer.replies == [*replies_before, ("close", code)]
    assert peer.conn.state is CLOSED


def assert_closed_cleanly(peer, code, replies_before=()):
    """The peer's close (with `code`) was echoed and the connection is CLOSED."""
    closes = [e for e in peer.events if isinstance(e, CloseConnection)]
    assert len(closes) == 1 and peer.events[-1] is closes[0], peer.events
    assert type(closes[0]) is CloseConnection and closes[0].code == code, closes[0]
    assert_echo_possible(peer)
    assert peer.replies == [*replies_before, ("close", None if code == 1005 else code)]
    assert peer.conn.state is CLOSED


@pytest.fixture(params=[SERVER, CLIENT], ids=["server", "client"])
def role(request):
    return request.param


def send(role, *frames, way="one chop", **kwargs):
    """Run a case: feed the frames to a new Peer in one chop, per frame, or octet-wise."""
    peer = Peer(role, **kwargs)
    wires = [on_wire(role, f) for f in frames]
    if way == "one chop":
        peer.feed([b"".join(wires)])
    elif way == "per frame":
        peer.feed(wires)
    elif way == "octet-wise":
        peer.feed(octets(b"".join(wires)))
    else:
        raise ValueError(way)
    return peer


# -- 1. framing: text and binary messages of every size class --------------------------------

SIZES = [("1", 0), ("2", 125), ("3", 126), ("4", 127), ("5", 128), ("6", 65535), ("7", 65536)]


@pytest.mark.parametrize("n,size", SIZES, ids=["1.1.%s-%d" % s for s in SIZES])
def test_case_1_1_text_message_of_each_size_is_echoed(role, n, size):
    payload = "*" * size
    peer = send(role, frame(TEXT, payload.encode()))
    assert peer.messages == [payload]
    assert peer.replies == [(TEXT, payload.encode())]


def test_case_1_1_8_text_65536_in_chops_of_997_is_echoed(role):
    payload = b"*" * 65536
    peer = Peer(role)
    peer.feed(chops(on_wire(role, frame(TEXT, payload)), 997))
    assert peer.messages == [payload.decode()]
    assert peer.replies == [(TEXT, payload)]


@pytest.mark.parametrize("n,size", SIZES, ids=["1.2.%s-%d" % s for s in SIZES])
def test_case_1_2_binary_message_of_each_size_is_echoed(role, n, size):
    payload = b"\xfe" * size
    peer = send(role, frame(BINARY, payload))
    assert peer.messages == [payload]
    assert peer.replies == [(BINARY, payload)]


def test_case_1_2_8_binary_65536_in_chops_of_997_is_echoed(role):
    payload = b"\xfe" * 65536
    peer = Peer(role)
    peer.feed(chops(on_wire(role, frame(BINARY, payload)), 997))
    assert peer.messages == [payload]
    assert peer.replies == [(BINARY, payload)]


# -- 2. pings and pongs --------------------------------------------------------------------


def test_case_2_1_ping_without_payload_is_answered(role):
    peer = send(role, frame(PING))
    assert peer.events == [Ping(b"")]
    assert peer.replies == [(PONG, b"")]


def test_case_2_2_ping_with_small_text_payload_is_answered(role):
    peer = send(role, frame(PING, b"Hello, world!"))
    assert peer.replies == [(PONG, b"Hello, world!")]


def test_case_2_3_ping_with_small_binary_payload_is_answered(role):
    payload = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    peer = send(role, frame(PING, payload))
    assert peer.replies == [(PONG, payload)]


def test_case_2_4_ping_with_125_byte_payload_is_answered(role):
    peer = send(role, frame(PING, b"\xfe" * 125))
    assert peer.replies == [(PONG, b"\xfe" * 125)]


def test_case_2_5_ping_with_126_byte_payload_fails_1002(role):
    peer = send(role, frame(PING, b"\xfe" * 126))
    assert_failed(peer, 1002)


def test_case_2_6_ping_with_125_byte_payload_octet_wise_is_answered(role):
    peer = send(role, frame(PING, b"\xfe" * 125), way="octet-wise")
    assert peer.events == [Ping(b"\xfe" * 125)]
    assert peer.replies == [(PONG, b"\xfe" * 125)]


def test_case_2_7_unsolicited_pong_without_payload_is_ignored(role):
    peer = send(role, frame(PONG))
    assert peer.events == [Pong(b"")]
    assert peer.replies == []


def test_case_2_8_unsolicited_pong_with_payload_is_ignored(role):
    peer = send(role, frame(PONG, b"unsolicited pong payload"))
    assert peer.events == [Pong(b"unsolicited pong payload")]
    assert peer.replies == []


def test_case_2_9_unsolicited_pong_then_ping_answers_the_ping_only(role):
    peer = send(role, frame(PONG, b"unsolicited pong payload"), frame(PING, b"ping payload"))
    assert peer.replies == [(PONG, b"ping payload")]


@pytest.mark.parametrize("way", ["one chop", "octet-wise"], ids=["2.10", "2.11"])
def test_case_2_10_and_2_11_ten_pings_get_ten_pongs_in_order(role, way):
    payloads = [b"payload-%d" % i for i in range(10)]
    peer = send(role, *[frame(PING, p) for p in payloads], way=way)
    assert peer.events == [Ping(p) for p in payloads]
    assert peer.replies == [(PONG, p) for p in payloads]


# -- 3. reserved bits ----------------------------------------------------------------------


def test_case_3_1_text_with_rsv1_fails_1002(role):
    peer = send(role, frame(TEXT, b"Hello, world!", rsv=4))
    assert_failed(peer, 1002)
    assert peer.messages == []


def test_case_3_2_text_then_text_with_rsv2_echoes_first_then_fails_1002(role):
    peer = send(
        role, frame(TEXT, b"Hello, world!"), frame(TEXT, b"Hello, world!", rsv=2), frame(PING)
    )
    assert peer.messages == ["Hello, world!"]
    assert_failed(peer, 1002, [(TEXT, b"Hello, world!")])


def test_case_3_3_text_rsv3_text_ping_per_frame_echoes_first_then_fails_1002(role):
    peer = send(
        role,
        frame(TEXT, b"Hello, world!"),
        frame(TEXT, b"Hello, world!", rsv=3),
        frame(PING),
        way="per frame",
    )
    assert_failed(peer, 1002, [(TEXT, b"Hello, world!")])


def test_case_3_3_text_rsv3_text_ping_in_one_chop_echoes_first_then_fails_1002(role):
    peer = send(
        role, frame(TEXT, b"Hello, world!"), frame(TEXT, b"Hello, world!", rsv=3), frame(PING)
    )
    assert_failed(peer, 1002, [(TEXT, b"Hello, world!")])


def test_case_3_4_text_rsv4_text_ping_octet_wise_echoes_first_then_fails_1002(role):
    peer = send(
        role,
        frame(TEXT, b"Hello, world!"),
        frame(TEXT, b"Hello, world!", rsv=4),
        frame(PING),
        way="octet-wise",
    )
    assert_failed(peer, 1002, [(TEXT, b"Hello, world!")])


def test_case_3_5_binary_with_rsv5_fails_1002(role):
    peer = send(role, frame(BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=5))
    assert_failed(peer, 1002)


def test_case_3_6_ping_with_rsv6_fails_1002_without_pong(role):
    peer = send(role, frame(PING, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=6))
    assert_failed(peer, 1002)
    assert peer.events[:-1] == []


def test_case_3_7_close_with_rsv7_fails_1002_not_echoed(role):
    peer = send(role, frame(CLOSE, b"\x03\xe8", rsv=7))
    assert_failed(peer, 1002)


# -- 4. reserved opcodes -------------------------------------------------------------------

RESERVED = [("4.1.1", 3), ("4.1.2", 4), ("4.1.3", 5), ("4.1.4", 6), ("4.1.5", 7)]
RESERVED += [("4.2.1", 11), ("4.2.2", 12), ("4.2.3", 13), ("4.2.4", 14), ("4.2.5", 15)]


@pytest.mark.parametrize("case,opcode", RESERVED[0:2] + RESERVED[5:7], ids=lambda v: str(v))
def test_case_4_x_1_and_4_x_2_reserved_opcode_fails_1002(role, case, opcode):
    payload = b"" if case.endswith(".1") else b"reserved opcode payload"
    peer = send(role, frame(opcode, payload))
    assert_failed(peer, 1002)


@pytest.mark.parametrize("case,opcode", RESERVED[2:5] + RESERVED[7:10], ids=lambda v: str(v))
@pytest.mark.parametrize("way", ["one chop", "per frame"])
def test_case_4_x_3_to_4_x_5_reserved_opcode_after_valid_frame_fails_1002(role, case, opcode, way):
    payload = b"" if case.endswith(".3") else b"reserved opcode payload"
    peer = send(role, frame(TEXT, b"Hello, world!"), frame(opcode, payload), frame(PING), way=way)
    assert peer.events[0] == TextMessage("Hello, world!")  # the valid frame comes first
    assert_failed(peer, 1002, [(TEXT, b"Hello, world!")])


# -- 5. fragmentation ----------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [PING, PONG], ids=["5.1-ping", "5.2-pong"])
def test_case_5_1_and_5_2_fragmented_control_frame_fails_1002(role, opcode):
    peer = send(role, frame(opcode, b"fragment1", fin=False), frame(CONT, b"fragment2"))
    assert_failed(peer, 1002)


@pytest.mark.parametrize(
    "way,case", [("one chop", "5.3"), ("per frame", "5.4"), ("octet-wise", "5.5")], ids=str
)
def test_case_5_3_to_5_5_text_in_two_fragments_is_echoed_whole(role, way, case):
    peer = send(role, frame(TEXT, b"fragment1", fin=False), frame(CONT, b"fragment2"), way=way)
    assert peer.messages == ["fragment1fragment2"]
    assert peer.replies == [(TEXT, b"fragment1fragment2")]


@pytest.mark.parametrize(
    "way,case", [("one chop", "5.6"), ("per frame", "5.7"), ("octet-wise", "5.8")], ids=str
)
def test_case_5_6_to_5_8_ping_between_fragments_is_answered_first(role, way, case):
    peer = send(
        role,
        frame(TEXT, b"fragment1", fin=False),
        frame(PING, b"ping payload"),
        frame(CONT, b"fragment2"),
        way=way,
    )
    assert peer.messages == ["fragment1fragment2"]
    assert peer.replies == [(PONG, b"ping payload"), (TEXT, b"fragment1fragment2")]


@pytest.mark.parametrize("way", ["one chop", "per frame", "octet-wise"])
def test_case_5_6_variant_pong_between_fragments_is_ignored(role, way):
    # Not an Autobahn case: 5.6 with an unsolicited pong (and a ping) between binary fragments.
    peer = send(
        role,
        frame(BINARY, b"\x00\x01", fin=False),
        frame(PONG, b"pong payload"),
        frame(CONT, b"\x02", fin=False),
        frame(PING),
        frame(CONT, b"\x03"),
        way=way,
    )
    assert [e for e in peer.events if not isinstance(e, Message)] == [
        Pong(b"pong payload"),
        Ping(b""),
    ]
    assert peer.messages == [b"\x00\x01\x02\x03"]
    assert peer.replies == [(PONG, b""), (BINARY, b"\x00\x01\x02\x03")]


@pytest.mark.parametrize(
    "way,case",
    [
        ("one chop", "5.9"),
        ("per frame", "5.10"),
        ("octet-wise", "5.11"),
        ("one chop", "5.12"),
        ("per frame", "5.13"),
        ("octet-wise", "5.14"),
    ],
    ids=str,
)
def test_case_5_9_to_5_14_continuation_without_start_fails_1002(role, way, case):
    fin = case in ("5.9", "5.10", "5.11")
    peer = send(
        role,
        frame(CONT, b"non-continuation payload", fin=fin),
        frame(TEXT, b"Hello, world!"),
        way=way,
    )
    assert_failed(peer, 1002)
    assert peer.messages == []


@pytest.mark.parametrize("way", ["one chop", "per frame"])
def test_case_5_15_continuation_after_finished_message_fails_1002(role, way):
    peer = send(
        role,
        frame(TEXT, b"fragment1", fin=False),
        frame(CONT, b"fragment2"),
        frame(CONT, b"fragment3", fin=False),
        frame(TEXT, b"fragment4"),
        way=way,
    )
    assert peer.messages == ["fragment1fragment2"]
    assert_failed(peer, 1002, [(TEXT, b"fragment1fragment2")])


@pytest.mark.parametrize("first_fin,case", [(False, "5.16"), (True, "5.17")], ids=str)
def test_case_5_16_and_5_17_stray_continuation_before_message_fails_1002(role, first_fin, case):
    group = [
        frame(CONT, b"fragment1", fin=first_fin),
        frame(TEXT, b"fragment2", fin=False),
        frame(CONT, b"fragment3"),
    ]
    peer = send(role, *group, *group)
    assert_failed(peer, 1002)
    assert peer.messages == []


def test_case_5_18_new_text_start_inside_fragmented_message_fails_1002(role):
    peer = send(role, frame(TEXT, b"fragment1", fin=False), frame(TEXT, b"fragment2"))
    assert_failed(peer, 1002)
    assert peer.messages == []


@pytest.mark.parametrize("way,case", [("per frame", "5.19"), ("octet-wise", "5.20")], ids=str)
def test_case_5_19_and_5_20_pings_between_five_fragments(role, way, case):
    frames = [
        frame(TEXT, b"fragment1", fin=False),
        frame(CONT, b"fragment2", fin=False),
        frame(PING, b"pongme 1!"),
        frame(CONT, b"fragment3", fin=False),
        frame(CONT, b"fragment4", fin=False),
        frame(PING, b"pongme 2!"),
        frame(CONT, b"fragment5"),
    ]
    peer = send(role, *frames, way=way)
    message = "fragment1fragment2fragment3fragment4fragment5"
    assert peer.messages == [message]
    assert peer.replies == [(PONG, b"pongme 1!"), (PONG, b"pongme 2!"), (TEXT, message.encode())]


# -- 6. UTF-8 ------------------------------------------------------------------------------


def test_case_6_1_1_empty_text_message_is_echoed(role):
    peer = send(role, frame(TEXT))
    assert peer.messages == [""] and peer.replies == [(TEXT, b"")]


def test_case_6_1_2_three_empty_fragments_are_one_empty_message(role):
    peer = send(role, frame(TEXT, fin=False), frame(CONT, fin=False), frame(CONT))
    assert peer.messages == [""] and peer.replies == [(TEXT, b"")]


def test_case_6_1_3_empty_fragments_around_a_payload_are_joined(role):
    peer = send(
        role, frame(TEXT, fin=False), frame(CONT, b"middle frame payload", fin=False), frame(CONT)
    )
    assert peer.messages == ["middle frame payload"]


def test_case_6_2_1_valid_utf8_in_one_frame_is_echoed(role):
    peer = send(role, frame(TEXT, UTF8_VALID_621))
    assert peer.messages == [UTF8_VALID_621.decode()]
    assert peer.replies == [(TEXT, UTF8_VALID_621)]


def test_case_6_2_2_valid_utf8_in_two_fragments_at_code_point_boundary(role):
    cut = 8  # between "µ" (6-7) and "@"
    peer = send(
        role, frame(TEXT, UTF8_VALID_621[:cut], fin=False), frame(CONT, UTF8_VALID_621[cut:])
    )
    assert peer.messages == [UTF8_VALID_621.decode()]


def one_octet_frames(payload):
    frames = [
        frame(TEXT if i == 0 else CONT, payload[i : i + 1], fin=i == len(payload) - 1)
        for i in range(len(payload))
    ]
    return frames


@pytest.mark.parametrize(
    "payload,case", [(UTF8_VALID_621, "6.2.3"), (KOSME, "6.2.4")], ids=["6.2.3", "6.2.4"]
)
def test_case_6_2_3_and_6_2_4_valid_utf8_in_one_octet_frames(role, payload, case):
    peer = send(role, *one_octet_frames(payload))
    assert peer.messages == [payload.decode()]
    assert peer.replies == [(TEXT, payload)]


def test_case_6_3_1_invalid_utf8_in_one_frame_fails_1007(role):
    peer = send(role, frame(TEXT, UTF8_INVALID_631))
    assert_failed(peer, 1007)


def test_case_6_3_2_invalid_utf8_in_one_octet_frames_fails_at_the_bad_frame(role):
    peer = Peer(role)
    per_frame = peer.feed([on_wire(role, f) for f in one_octet_frames(UTF8_INVALID_631)])
    failed = [
        i for i, got in enumerate(per_frame) if any(isinstance(e, CloseConnection) for e in got)
    ]
    assert failed == [12]  # the frame holding 0xA0, right after 0xED
    assert_failed(peer, 1007)


def test_case_6_4_1_invalid_utf8_in_second_fragment_fails_fast(role):
    peer = Peer(role)
    frames = [
        frame(TEXT, KOSME, fin=False),
        frame(CONT, b"\xf4\x90\x80\x80", fin=False),
        frame(CONT, b"edited"),
    ]
    per_frame = peer.feed([on_wire(role, f) for f in frames])
    assert not any(isinstance(e, CloseConnection) for e in per_frame[0])
    assert any(isinstance(e, Utf8Violation) for e in per_frame[1])
    assert per_frame[2] == []
    assert_failed(peer, 1007)


def test_case_6_4_2_invalid_utf8_on_the_one_byte_second_fragment_fails_fast(role):
    peer = Peer(role)
    frames = [
        frame(TEXT, UTF8_INVALID_641[:12], fin=False),
        frame(CONT, UTF8_INVALID_641[12:13], fin=False),
        frame(CONT, UTF8_INVALID_641[13:]),
    ]
    per_frame = peer.feed([on_wire(role, f) for f in frames])
    assert not any(isinstance(e, CloseConnection) for e in per_frame[0])
    assert any(isinstance(e, Utf8Violation) for e in per_frame[1])
    assert per_frame[2] == []
    assert_failed(peer, 1007)


@pytest.mark.parametrize("cuts,case", [((11, 15), "6.4.3"), ((12, 13), "6.4.4")], ids=str)
def test_case_6_4_3_and_6_4_4_invalid_utf8_in_chunks_of_one_frame_fails_fast(role, cuts, case):
    wire = on_wire(role, frame(TEXT, UTF8_INVALID_641))
    head = len(wire) - len(UTF8_INVALID_641)
    a, b = head + cuts[0], head + cuts[1]
    peer = Peer(role)
    per_chunk = peer.feed([wire[:a], wire[a:b], wire[b:]])
    assert not any(isinstance(e, CloseConnection) for e in per_chunk[0])
    assert peer.conn.state is not OPEN  # failed before the frame was complete
    assert any(isinstance(e, Utf8Violation) for e in per_chunk[1])
    assert per_chunk[2] == []
    assert_failed(peer, 1007)


def _utf8_groups():
    """Autobahn 6.5-6.23: Markus Kuhn's UTF-8 decoder stress test, in Autobahn's order."""
    missing_last = [
        b"\xc0",
        b"\xe0\x80",
        b"\xf0\x80\x80",
        b"\xf8\x80\x80\x80",
        b"\xfc\x80\x80\x80\x80",
        b"\xdf",
        b"\xef\xbf",
        b"\xf7\xbf\xbf",
        b"\xfb\xbf\xbf\xbf",
        b"\xfd\xbf\xbf\xbf\xbf",
    ]
    noncharacters = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xF4 and z2 != 0x8F:
                continue  # above U+10FFFF
            for z3 in b"\xbe\xbf":
                if not (z1 == 0xF0 and z2 == 0x8F):  # overlong
                    noncharacters.append(bytes((z1, z2, 0xBF, z3)))
    highs = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf"]
    return [
        [
            b"hello\x24world",
            b"hello\xc2\xa2world",
            b"hello\xe2\x82\xacworld",
            b"hello\xf0\xa4\xad\xa2world",
            KOSME,
        ],
        [KOSME[:i] for i in range(1, len(KOSME) + 1)],
        [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"],
        [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"],
        [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"],
        [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"],
        [
            b"\xed\x9f\xbf",
            b"\xee\x80\x80",
            b"\xef\xbf\xbd",
            b"\xf4\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
        ],
        [
            b"\x80",
            b"\xbf",
            b"\x80\xbf",
            b"\x80\xbf\x80",
            b"\x80\xbf\x80\xbf",
            b"\x80\xbf\x80\xbf\x80",
            b"\x80\xbf\x80\xbf\x80\xbf",
            bytes(range(0x80, 0xBF)),
        ],
        [
            b"".join(bytes((c, 0x20)) for c in range(lo, hi))
            for lo, hi in ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD))
        ],
        missing_last,
        [b"".join(missing_last)],
        [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"],
        [
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xf0\x80\x80\xaf",
            b"\xf8\x80\x80\x80\xaf",
            b"\xfc\x80\x80\x80\x80\xaf",
        ],
        [
            b"\xc1\xbf",
            b"\xe0\x9f\xbf",
            b"\xf0\x8f\xbf\xbf",
            b"\xf8\x87\xbf\xbf\xbf",
            b"\xfc\x83\xbf\xbf\xbf\xbf",
        ],
        [
            b"\xc0\x80",
            b"\xe0\x80\x80",
            b"\xf0\x80\x80\x80",
            b"\xf8\x80\x80\x80\x80",
            b"\xfc\x80\x80\x80\x80\x80",
        ],
        highs + [b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"],
        [hi + lo for hi in highs for lo in (b"\xed\xb0\x80", b"\xed\xbf\xbf")],
        noncharacters,
        [
            b"\xef\xbf\xb9",
            b"\xef\xbf\xba",
            b"\xef\xbf\xbb",
            b"\xef\xbf\xbc",
            b"\xef\xbf\xbd",
            b"\xef\xbf\xbe",
            b"\xef\xbf\xbf",
        ],
    ]


UTF8_CASES = [
    ("6.%d.%d" % (g, i), payload)
    for g, group in enumerate(_utf8_groups(), start=5)
    for i, payload in enumerate(group, start=1)
]


def is_utf8(data):
    """The oracle: CPython's one-shot decoder is strict UTF-8 (RFC 3629)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Completions for an unfinished code point: a first continuation byte at each edge of
# every range RFC 3629 allows after a lead byte, then plain continuation bytes.
_COMPLETIONS = [b""] + [
    bytes((first,)) + b"\x80" * (k - 1)
    for k in (1, 2, 3)
    for first in (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)
]


def fail_at(data):
    """Index of the byte at which a fail-fast validator must refuse data, or None if valid."""
    for k in range(1, len(data) + 1):
        if not any(is_utf8(data[:k] + tail) for tail in _COMPLETIONS):
            return k - 1
    return None if is_utf8(data) else len(data) - 1  # truncated: refused at the end


def test_case_6_x_table_matches_autobahn_counts():
    counts = {}
    for case, _ in UTF8_CASES:
        group = case.rsplit(".", 1)[0]
        counts[group] = counts.get(group, 0) + 1
    assert counts["6.5"] == 5 and counts["6.6"] == 11 and counts["6.12"] == 8
    assert counts["6.22"] == 34 and counts["6.23"] == 7
    assert len(counts) == 19


@pytest.mark.parametrize("case,payload", UTF8_CASES, ids=[c for c, _ in UTF8_CASES])
def test_case_6_5_to_6_23_utf8_in_one_frame(role, case, payload):
    peer = send(role, frame(TEXT, payload))
    if is_utf8(payload):
        assert peer.messages == [payload.decode()]
        assert peer.replies == [(TEXT, payload)]
    else:
        assert_failed(peer, 1007)


@pytest.mark.parametrize("case,payload", UTF8_CASES, ids=[c for c, _ in UTF8_CASES])
def test_case_6_x_fails_at_the_first_impossible_byte_octet_wise(role, case, payload):
    wire = on_wire(role, frame(TEXT, payload))
    head = len(wire) - len(payload)
    peer = Peer(role)
    per_chunk = peer.feed(octets(wire))
    failed = [
        i - head
        for i, got in enumerate(per_chunk)
        if any(isinstance(e, CloseConnection) for e in got)
    ]
    expected = fail_at(payload)
    assert failed == ([] if expected is None else [expected])


@pytest.mark.parametrize("case,payload", UTF8_CASES, ids=[c for c, _ in UTF8_CASES])
def test_case_6_x_split_at_every_offset_gives_the_same_outcome(role, case, payload):
    valid = is_utf8(payload)
    for cut in range(len(payload) + 1):
        two_frames = send(role, frame(TEXT, payload[:cut], fin=False), frame(CONT, payload[cut:]))
        wire = on_wire(role, frame(TEXT, payload))
        head = len(wire) - len(payload)
        two_chunks = Peer(role)
        two_chunks.feed([wire[: head + cut], wire[head + cut :]])
        for peer in (two_frames, two_chunks):
            if valid:
                assert peer.messages == [payload.decode()], cut
                assert peer.replies == [(TEXT, payload)], cut
            else:
                assert_failed(peer, 1007)


# -- 7. the closing handshake --------------------------------------------------------------


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def test_case_7_1_1_text_then_close_echoes_both(role):
    # Autobahn's 7.1.1 lets its own close follow the echo; arriving in one read with the
    # message is stricter, and what a wsproto application gets right (events are parsed
    # as the application iterates, so it answers the message while still OPEN).
    peer = send(role, frame(TEXT, b"Hello World!"), frame(CLOSE, close_payload(1000)))
    assert peer.messages == ["Hello World!"]
    assert_closed_cleanly(peer, 1000, [(TEXT, b"Hello World!")])


def test_case_7_1_1_text_then_close_per_frame_echoes_both(role):
    peer = send(
        role, frame(TEXT, b"Hello World!"), frame(CLOSE, close_payload(1000)), way="per frame"
    )
    assert_closed_cleanly(peer, 1000, [(TEXT, b"Hello World!")])


def test_case_7_1_2_second_close_is_ignored(role):
    peer = send(role, frame(CLOSE, close_payload(1000)), frame(CLOSE, close_payload(1000)))
    assert_closed_cleanly(peer, 1000)


def test_case_7_1_3_ping_after_close_is_not_answered(role):
    peer = send(role, frame(CLOSE, close_payload(1000)), frame(PING, b"Hello World!"))
    assert_closed_cleanly(peer, 1000)


def test_case_7_1_4_text_after_close_is_not_delivered(role):
    peer = send(role, frame(CLOSE, close_payload(1000)), frame(TEXT, b"Hello World!"))
    assert peer.messages == []
    assert_closed_cleanly(peer, 1000)


def test_case_7_1_5_fragment_close_continuation_delivers_no_message(role):
    peer = send(
        role,
        frame(TEXT, b"fragment1", fin=False),
        frame(CLOSE, close_payload(1000)),
        frame(CONT, b"fragment2"),
    )
    assert peer.messages == []
    assert not any(isinstance(e, Message) and e.message_finished for e in peer.events)
    assert_closed_cleanly(peer, 1000)


def test_case_7_1_6_large_text_text_close_ping(role):
    big = (b"BAsd7&jh23" * 26215 + b"BAsd7&")[: 256 * 1024]
    peer = send(
        role,
        frame(TEXT, big),
        frame(TEXT, b"Hello World!"),
        frame(CLOSE, close_payload(1000)),
        frame(PING),
    )
    # INFORMATIONAL in Autobahn: both messages and the close arrive, the ping does not.
    assert peer.messages == [big.decode(), "Hello World!"]
    assert [type(e) for e in peer.events][-1] is CloseConnection
    assert not any(isinstance(e, Ping) for e in peer.events)
    assert peer.replies[-1] == ("close", 1000)
    assert PONG not in [r[0] for r in peer.replies]


def test_case_7_3_1_empty_close_is_echoed_empty(role):
    peer = send(role, frame(CLOSE))
    assert peer.events == [CloseConnection(1005, "")]
    assert peer.frames == [(CLOSE, b"", True)]
    assert peer.conn.state is CLOSED


def test_case_7_3_2_close_with_one_byte_payload_fails_1002(role):
    peer = send(role, frame(CLOSE, b"a"))
    assert_failed(peer, 1002)


def test_case_7_3_3_close_with_code_only_is_echoed(role):
    peer = send(role, frame(CLOSE, close_payload(1000)))
    assert peer.frames == [(CLOSE, b"\x03\xe8", True)]
    assert_closed_cleanly(peer, 1000)


def test_case_7_3_4_close_with_code_and_reason_is_reported(role):
    peer = send(role, frame(CLOSE, close_payload(1000, b"Hello World!")))
    assert peer.events == [CloseConnection(1000, "Hello World!")]
    assert_closed_cleanly(peer, 1000)


def test_case_7_3_5_close_with_123_byte_reason_is_accepted(role):
    reason = b"*" * 123
    peer = send(role, frame(CLOSE, close_payload(1000, reason)))
    assert peer.events == [CloseConnection(1000, reason.decode())]
    assert peer.frames == [(CLOSE, close_payload(1000, reason), True)]
    assert peer.conn.state is CLOSED


def test_case_7_3_6_close_with_126_byte_payload_fails_1002(role):
    peer = send(role, frame(CLOSE, close_payload(1000, b"*" * 124)))
    assert_failed(peer, 1002)


def test_case_7_5_1_close_reason_invalid_utf8_fails_1007(role):
    peer = send(role, frame(CLOSE, close_payload(1000, UTF8_INVALID_631)))
    assert_failed(peer, 1007)


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]


@pytest.mark.parametrize(
    "code", VALID_CODES, ids=["7.7.%d-%d" % (i, c) for i, c in enumerate(VALID_CODES, 1)]
)
def test_case_7_7_valid_close_code_is_echoed(role, code):
    peer = send(role, frame(CLOSE, close_payload(code)))
    assert peer.events == [CloseConnection(code, "")]
    assert_closed_cleanly(peer, code)


@pytest.mark.parametrize(
    "code", INVALID_CODES, ids=["7.9.%d-%d" % (i, c) for i, c in enumerate(INVALID_CODES, 1)]
)
def test_case_7_9_invalid_close_code_fails_1002(role, code):
    peer = send(role, frame(CLOSE, close_payload(code)))
    assert_failed(peer, 1002)


@pytest.mark.parametrize("code", [5000, 65535], ids=["7.13.1-5000", "7.13.2-65535"])
def test_case_7_13_close_code_out_of_range_fails_1002(role, code):
    peer = send(role, frame(CLOSE, close_payload(code)))
    assert_failed(peer, 1002)


# -- 10. miscellaneous ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [1300, 64, 997, 4096, 65535, 65536])
@pytest.mark.parametrize("whole_messages", [False, True], ids=["pieces", "whole"])
def test_case_10_1_1_65536_byte_text_in_fragments_is_echoed(role, size, whole_messages):
    payload = b"*" * 65536
    pieces = chops(payload, size)
    frames = [
        frame(TEXT if i == 0 else CONT, p, fin=i == len(pieces) - 1) for i, p in enumerate(pieces)
    ]
    peer = send(role, *frames, whole_messages=whole_messages)
    assert peer.messages == [payload.decode()]
    assert peer.replies == [(TEXT, payload)]
    if whole_messages:
        assert peer.events == [TextMessage(payload.decode())]
