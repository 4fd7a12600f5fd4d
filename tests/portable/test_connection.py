"""wsproto_lite.connection: hand-written bytes in, events and replies out, on both roles.

Runs under pytest and on MicroPython: bare asserts, no pytest import, small payloads.
Frames are written unmasked by hand; towards a server, _helpers.masked() applies the
client's mask with its own per-byte XOR. Every receiving test runs three ways (whole,
one byte at a time, followed by trailing bytes) through _helpers.receive3().
"""

from _helpers import (
    CLIENT,
    KEY,
    RECEIVERS,
    SERVER,
    assert_events,
    bytewise,
    close_frame_code,
    connection,
    feed,
    masked,
    merge,
    name,
    pair,
    raises,
    receive3,
    sent_by,
    unmask_frame,
    wire_for,
)

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

OPEN = ConnectionState.OPEN
LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
CLOSED = ConnectionState.CLOSED

HELLO_MASKED = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 §5.7

VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
VALID_CODES += (3000, 3999, 4000, 4999)
INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)


def close_frame(code, reason=b""):
    return bytes((0x88, 2 + len(reason), code >> 8, code & 255)) + reason


def fails(frames, violation, receivers=RECEIVERS, **kwargs):
    """The frames make each receiver report `violation` (class and code) and stop."""
    for kind in receivers:
        events, state, out = receive3(kind, frames, **kwargs)
        assert events and same_violation(events[-1], violation), "%s: %r" % (name(kind), events)
        for event in events[:-1]:
            assert not isinstance(event, CloseConnection), events
        assert state is REMOTE_CLOSING  # our close is still owed: the application sends it
        assert out == b""
    return events


def same_violation(event, violation):
    return type(event) is type(violation) and event.code == violation.code


# -- RFC 6455 §5.7 examples, three ways, both roles ----------------------------------------


def test_rfc_unmasked_text_from_server_gives_text_message():
    events, state, out = receive3(CLIENT, [b"\x81\x05Hello"])
    assert events == [TextMessage("Hello")] and state is OPEN and out == b""


def test_rfc_masked_text_from_client_gives_text_message():
    server = connection(SERVER)
    server.receive_data(HELLO_MASKED)
    assert list(server.events()) == [TextMessage("Hello")]
    events, state, _ = receive3(SERVER, [b"\x81\x05Hello"])
    assert events == [TextMessage("Hello")] and state is OPEN


def test_rfc_fragmented_text_gives_a_piece_per_frame():
    for kind in RECEIVERS:
        conn = connection(kind)
        got = feed(conn, [wire_for(kind, [b"\x01\x03Hel", b"\x80\x02lo"])])
        assert got == [TextMessage("Hel", True, False), TextMessage("lo", True, True)], got
        events, state, _ = receive3(kind, [b"\x01\x03Hel", b"\x80\x02lo"])
        assert events == [TextMessage("Hello")] and state is OPEN


def test_rfc_ping_and_pong_give_events_with_payload():
    for kind in RECEIVERS:
        events, state, out = receive3(kind, [b"\x89\x05Hello", b"\x8a\x05Hello"])
        assert events == [Ping(b"Hello"), Pong(b"Hello")], events
        assert state is OPEN and out == b""  # no automatic pong unless asked for


def test_rfc_256_byte_binary_message_arrives_intact():
    payload = bytes(range(256))
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x82\x7e\x01\x00" + payload])
        assert events == [BytesMessage(payload)]


def test_rfc_64k_binary_header_streams_pieces_as_they_arrive():
    header = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"
    for kind in RECEIVERS:
        conn = connection(kind)
        wire = wire_for(kind, [header + b"abc"])
        conn.receive_data(wire)
        assert list(conn.events()) == [BytesMessage(b"abc", False, False)]
        assert conn.state is OPEN


def test_partial_frame_gives_pieces_that_join_to_the_message():
    for kind in RECEIVERS:
        conn = connection(kind)
        got = feed(conn, bytewise(wire_for(kind, [b"\x82\x03abc"])))
        assert [e.data for e in got] == [b"a", b"b", b"c"]
        assert [e.frame_finished for e in got] == [False, False, True]
        assert [e.message_finished for e in got] == [False, False, True]


def test_text_code_point_split_across_frames_is_joined():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x01\x01\xce", b"\x80\x01\xba"])
        assert events == [TextMessage("\u03ba")]


def test_empty_messages_arrive():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x81\x00", b"\x82\x00", b"\x01\x00", b"\x80\x00"])
        assert events == [TextMessage(""), BytesMessage(b""), TextMessage("")]


def test_whole_messages_option_gives_one_event_per_message():
    frames = [b"\x01\x03Hel", b"\x89\x00", b"\x80\x02lo", b"\x02\x01\x00", b"\x80\x01\xff"]
    for kind in RECEIVERS:
        conn = connection(kind, whole_messages=True)
        for chunk in bytewise(wire_for(kind, frames)):
            conn.receive_data(chunk)
        got = list(conn.events())
        assert got == [Ping(b""), TextMessage("Hello"), BytesMessage(b"\x00\xff")], got
        events, _, _ = receive3(kind, frames, whole_messages=True)
        assert events == got


def test_trailing_data_is_parsed_at_construction():
    server = Connection(ConnectionType.SERVER, trailing_data=HELLO_MASKED)
    assert list(server.events()) == [TextMessage("Hello")]


def test_receive_data_accepts_bytearray_and_memoryview():
    client = connection(CLIENT)
    client.receive_data(bytearray(b"\x81\x02Hi"))
    client.receive_data(memoryview(b"\x82\x01\x00"))
    assert list(client.events()) == [TextMessage("Hi"), BytesMessage(b"\x00")]


def test_constructor_refuses_other_connection_types():
    raises(TypeError, Connection, "server")


def test_events_are_given_once():
    client = connection(CLIENT)
    client.receive_data(b"\x81\x02Hi")
    assert list(client.events()) == [TextMessage("Hi")]
    assert list(client.events()) == []


# -- RFC 6455 rules: each bad input gives its violation and close code ---------------------


def test_unmasked_client_frame_fails_1002():
    server = connection(SERVER)
    server.receive_data(b"\x81\x05Hello")
    assert_events(list(server.events()), [ProtocolViolation(1002)])
    # receive3 would mask it: feed the literal three ways by hand instead.
    for chunks in (bytewise(b"\x81\x05Hello"), [b"\x81\x05Hello" + b"\x89\x00"]):
        server = connection(SERVER)
        assert_events(feed(server, chunks), [ProtocolViolation(1002)])
        assert server.state is REMOTE_CLOSING


def test_masked_server_frame_fails_1002():
    for chunks in ([HELLO_MASKED], bytewise(HELLO_MASKED), [HELLO_MASKED + b"\x89\x00"]):
        client = connection(CLIENT)
        assert_events(feed(client, chunks), [ProtocolViolation(1002)])
        assert client.state is REMOTE_CLOSING


def test_rsv_bits_without_extension_fail_1002():
    for frame in (b"\xc1\x02hi", b"\xa1\x02hi", b"\x91\x02hi", b"\xf2\x00", b"\xc9\x00"):
        fails([frame], ProtocolViolation(1002))


def test_reserved_opcodes_fail_1002():
    for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        fails([bytes((0x80 | opcode, 2)) + b"hi"], ProtocolViolation(1002))


def test_control_frame_over_125_bytes_fails_1002():
    for b0 in (0x88, 0x89, 0x8A):
        frame = bytes((b0, 0x7E, 0x00, 0x7E)) + b"\x03\xe8" + b"x" * 124
        fails([frame], ProtocolViolation(1002))


def test_control_frame_over_125_bytes_fails_at_header():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x89\x7e"])[:2])  # two header bytes only
        assert_events(list(conn.events()), [ProtocolViolation(1002)])


def test_fragmented_control_frame_fails_1002():
    for frame in (b"\x09\x01p", b"\x0a\x00", b"\x08\x02\x03\xe8"):
        fails([frame], ProtocolViolation(1002))
        fails([b"\x01\x03Hel", frame, b"\x80\x02lo"], ProtocolViolation(1002))


def test_control_frames_between_fragments_arrive_in_order_and_message_intact():
    frames = [b"\x01\x03Hel", b"\x89\x01p", b"\x8a\x00", b"\x00\x01l", b"\x80\x01o"]
    for kind in RECEIVERS:
        conn = connection(kind)
        got = feed(conn, [wire_for(kind, frames)])
        assert got == [
            TextMessage("Hel", True, False),
            Ping(b"p"),
            Pong(b""),
            TextMessage("l", True, False),
            TextMessage("o", True, True),
        ], got
        events, state, _ = receive3(kind, frames)
        assert events == [Ping(b"p"), Pong(b""), TextMessage("Hello")] and state is OPEN


def test_continuation_without_start_fails_1002():
    fails([b"\x80\x02lo"], ProtocolViolation(1002))
    fails([b"\x00\x02lo"], ProtocolViolation(1002))
    events = fails([b"\x81\x02Hi", b"\x80\x02lo"], ProtocolViolation(1002))
    assert events[0] == TextMessage("Hi")


def test_new_start_inside_fragmented_message_fails_1002():
    fails([b"\x01\x03Hel", b"\x81\x02lo"], ProtocolViolation(1002))
    fails([b"\x02\x01\x00", b"\x01\x01a"], ProtocolViolation(1002))
    for kind in RECEIVERS:
        conn = connection(kind)
        got = feed(conn, [wire_for(kind, [b"\x01\x03Hel", b"\x81\x02lo"])])
        assert got[0] == TextMessage("Hel", True, False)
        assert_events(got[1:], [ProtocolViolation(1002)])


def test_valid_close_codes_are_accepted():
    for code in VALID_CODES:
        for kind in RECEIVERS:
            events, state, out = receive3(kind, [close_frame(code)])
            assert events == [CloseConnection(code, "")], (code, events)
            assert state is REMOTE_CLOSING and out == b""


def test_invalid_close_codes_fail_1002():
    for code in INVALID_CODES:
        events = fails([close_frame(code)], ProtocolViolation(1002))
        assert len(events) == 1, code


def test_close_payload_of_one_byte_fails_1002():
    fails([b"\x88\x01\x03"], ProtocolViolation(1002))


def test_close_reason_is_reported():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [close_frame(1001, b"bye \xce\xba")])
        assert events == [CloseConnection(1001, "bye \u03ba")]


def test_close_reason_invalid_utf8_fails_1007():
    for reason in (b"\xff", b"ok\xce", b"\xed\xa0\x80", b"\xc0\xaf"):
        fails([close_frame(1000, reason)], Utf8Violation(1007))


def test_empty_close_gives_1005_event():
    for kind in RECEIVERS:
        events, state, _ = receive3(kind, [b"\x88\x00"])
        assert events == [CloseConnection(1005, "")] and state is REMOTE_CLOSING


def test_invalid_utf8_text_fails_1007():
    for payload in (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80b"):
        fails([bytes((0x81, len(payload))) + payload], Utf8Violation(1007))


def test_invalid_utf8_across_fragments_fails_1007():
    fails([b"\x01\x02Hi", b"\x00\x01\xed", b"\x80\x02\xa0\x80"], Utf8Violation(1007))


def test_truncated_utf8_at_end_of_message_fails_1007():
    fails([b"\x81\x03Hi\xce"], Utf8Violation(1007))
    fails([b"\x01\x02Hi", b"\x80\x01\xce"], Utf8Violation(1007))


def test_invalid_utf8_fails_fast_before_frame_is_complete():
    # The header announces 20 bytes; the sixth and seventh can never be valid UTF-8.
    frame = b"\x81\x14Hello\xed\xa0" + b"x" * 13
    for kind in RECEIVERS:
        wire = wire_for(kind, [frame])
        head = len(wire) - 20
        conn = connection(kind, auto_reply=True)
        conn.receive_data(wire[: head + 7])
        got = list(conn.events())
        assert got and same_violation(got[-1], Utf8Violation(1007)), got
        for event in got[:-1]:
            assert isinstance(event, TextMessage) and not event.message_finished
        assert conn.state is CLOSED
        assert close_frame_code(unmask_or_not(kind, conn.data_to_send()))[0] == 1007


def test_invalid_utf8_fails_fast_one_byte_at_a_time():
    frame = b"\x81\x14Hello\xed\xa0" + b"x" * 13
    for kind in RECEIVERS:
        wire = wire_for(kind, [frame])
        head = len(wire) - 20
        conn = connection(kind)
        failed_at = None
        for i in range(len(wire)):
            conn.receive_data(wire[i : i + 1])
            for event in conn.events():
                if isinstance(event, CloseConnection):
                    assert failed_at is None
                    failed_at = i
                    assert same_violation(event, Utf8Violation(1007))
        assert failed_at == head + 6, (name(kind), failed_at)  # at the 0xA0 byte


def test_non_minimal_length_encodings_fail_1002():
    fails([b"\x82\x7e\x00\x05hello"], ProtocolViolation(1002))
    fails([b"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05hello"], ProtocolViolation(1002))
    fails([b"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"], ProtocolViolation(1002))


def test_64_bit_length_with_top_bit_fails_1002():
    fails([b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01"], ProtocolViolation(1002))
    fails(
        [b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff"],
        ProtocolViolation(1002),
        max_message_size=None,
    )


def test_length_2_63_minus_1_is_refused_at_header_1009():
    header = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
    fails([header], SizeViolation(1009))
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [header])[:10])  # before any mask key or payload
        assert_events(list(conn.events()), [SizeViolation(1009)])


def test_length_2_63_minus_1_without_limit_streams_without_buffering():
    header = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
    for kind in RECEIVERS:
        conn = connection(kind, max_message_size=None)
        conn.receive_data(wire_for(kind, [header + b"abc"]))
        assert list(conn.events()) == [BytesMessage(b"abc", False, False)]
        assert conn.state is OPEN


def test_frame_over_max_frame_size_fails_1009_at_header():
    fails([b"\x82\x0b" + b"x" * 11], SizeViolation(1009), max_frame_size=10)
    fails([b"\x81\x7e\x01\x00" + b"x" * 256], SizeViolation(1009), max_message_size=255)
    for kind in RECEIVERS:
        conn = connection(kind, max_frame_size=10)
        conn.receive_data(wire_for(kind, [b"\x82\x0b"])[:2])
        assert_events(list(conn.events()), [SizeViolation(1009)])


def test_frame_at_max_frame_size_is_accepted():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x82\x0a0123456789"], max_frame_size=10)
        assert events == [BytesMessage(b"0123456789")]


def test_message_over_max_message_size_fails_1009_at_crossing_header():
    frames = [b"\x02\x06abcdef", b"\x89\x00", b"\x00\x04ghij", b"\x80\x01k"]
    fails(frames, SizeViolation(1009), max_message_size=10)
    for kind in RECEIVERS:
        conn = connection(kind, max_message_size=10)
        conn.receive_data(wire_for(kind, frames[:3]))
        assert [type(e) for e in conn.events()] == [BytesMessage, Ping, BytesMessage]
        conn.receive_data(wire_for(kind, frames[3:])[:2])  # the crossing frame's header
        assert_events(list(conn.events()), [SizeViolation(1009)])


def test_message_at_max_message_size_is_accepted_and_limit_resets():
    frames = [b"\x02\x06abcdef", b"\x80\x04ghij", b"\x82\x0a0123456789"]
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, frames, max_message_size=10)
        assert events == [BytesMessage(b"abcdefghij"), BytesMessage(b"0123456789")]


def test_nothing_is_parsed_after_a_close_frame():
    for kind in RECEIVERS:
        events, state, _ = receive3(kind, [b"\x88\x02\x03\xe8", b"\x81\x05Hello", b"\x83\x00"])
        assert events == [CloseConnection(1000, "")] and state is REMOTE_CLOSING
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x88\x00"]))
        list(conn.events())
        conn.receive_data(b"\xff\xff\xff")  # garbage is not even looked at
        assert list(conn.events()) == [] and conn.state is REMOTE_CLOSING


def test_nothing_is_parsed_after_a_violation():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x83\x00", b"\x81\x05Hello", b"\x88\x00"])
        assert_events(events, [ProtocolViolation(1002)])
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\xc1\x00"]))
        list(conn.events())
        conn.receive_data(wire_for(kind, [b"\x81\x05Hello"]))
        assert list(conn.events()) == []


def test_valid_frames_before_a_violation_are_delivered():
    for kind in RECEIVERS:
        events, _, _ = receive3(kind, [b"\x81\x05Hello", b"\x89\x00", b"\x8b\x00"])
        assert_events(events, [TextMessage("Hello"), Ping(b""), ProtocolViolation(1002)])


# -- the closing handshake -----------------------------------------------------------------


def unmask_or_not(sender, data):
    """Frames a `sender` Connection wrote (one frame), unmasked for inspection."""
    return unmask_frame(data) if sender is CLIENT else data


def test_close_initiated_by_either_side_goes_open_local_closing_closed():
    for initiator in RECEIVERS:
        client, server = pair()
        first, second = (client, server) if initiator is CLIENT else (server, client)
        assert first.state is OPEN and second.state is OPEN
        data = first.send(CloseConnection(1000, "bye"))
        assert unmask_or_not(initiator, data) == b"\x88\x05\x03\xe8bye"
        assert first.state is LOCAL_CLOSING
        second.receive_data(data)
        got = list(second.events())
        assert got == [CloseConnection(1000, "bye")]
        assert second.state is REMOTE_CLOSING
        reply = second.send(got[0].response())
        assert second.state is CLOSED
        first.receive_data(reply)
        assert list(first.events()) == [CloseConnection(1000, "bye")]
        assert first.state is CLOSED


def test_simultaneous_close_ends_closed_on_both_sides():
    client, server = pair()
    to_server = client.send(CloseConnection(1000))
    to_client = server.send(CloseConnection(1001))
    server.receive_data(to_server)
    client.receive_data(to_client)
    assert list(server.events()) == [CloseConnection(1000, "")]
    assert list(client.events()) == [CloseConnection(1001, "")]
    assert server.state is CLOSED and client.state is CLOSED


def test_auto_reply_echoes_close_and_closes():
    for kind in RECEIVERS:
        events, state, out = receive3(kind, [b"\x88\x05\x03\xe8bye"], auto_reply=True)
        assert events == [CloseConnection(1000, "bye")]
        assert state is CLOSED
        assert out == sent_by(kind, b"\x88\x05\x03\xe8bye")


def test_auto_reply_echoes_empty_close_as_empty_close():
    for kind in RECEIVERS:
        events, state, out = receive3(kind, [b"\x88\x00"], auto_reply=True)
        assert events == [CloseConnection(1005, "")] and state is CLOSED
        assert out == sent_by(kind, b"\x88\x00")


def test_auto_reply_answers_ping_with_pong_exact_bytes():
    server = connection(SERVER, auto_reply=True)
    server.receive_data(masked(b"\x89\x05Hello"))
    assert list(server.events()) == [Ping(b"Hello")]
    assert server.data_to_send() == b"\x8a\x05Hello"
    assert server.data_to_send() == b""  # drained
    client = connection(CLIENT, auto_reply=True)
    client.receive_data(b"\x89\x05Hello")
    assert list(client.events()) == [Ping(b"Hello")]
    assert client.data_to_send() == b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    for kind in RECEIVERS:
        events, _, out = receive3(kind, [b"\x89\x00", b"\x8a\x01x", b"\x89\x01y"], auto_reply=True)
        assert events == [Ping(b""), Pong(b"x"), Ping(b"y")]
        assert out == sent_by(kind, b"\x8a\x00") + sent_by(kind, b"\x8a\x01y")


def test_without_auto_reply_nothing_is_queued():
    for kind in RECEIVERS:
        _, state, out = receive3(kind, [b"\x89\x05Hello", b"\x88\x02\x03\xe8"])
        assert out == b"" and state is REMOTE_CLOSING


def test_auto_reply_sends_close_with_violation_code():
    cases = (
        ([b"\x83\x00"], ProtocolViolation(1002)),
        ([b"\x81\x01\xff"], Utf8Violation(1007)),
        ([b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"], SizeViolation(1009)),
    )
    for frames, violation in cases:
        for kind in RECEIVERS:
            events, state, out = receive3(kind, frames, auto_reply=True)
            assert_events(events, [violation])
            assert state is CLOSED
            reason = events[0].response().reason.encode("utf-8")
            expected = bytes((0x88, 2 + len(reason), violation.code >> 8, violation.code & 255))
            assert unmask_or_not(kind, out) == expected + reason
            if kind is CLIENT:
                assert out[2:6] == KEY


def test_violation_without_auto_reply_waits_for_the_application():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x81\x01\xff"]))
        (event,) = list(conn.events())
        assert same_violation(event, Utf8Violation(1007))
        assert isinstance(event, CloseConnection)  # code that knows only CloseConnection works
        assert conn.state is REMOTE_CLOSING and conn.data_to_send() == b""
        out = conn.send(event.response())
        assert close_frame_code(unmask_or_not(kind, out))[0] == 1007
        assert conn.state is CLOSED


def test_violation_response_reason_fits_in_a_close_frame():
    event = ProtocolViolation(1002, "x" * 300)
    response = event.response()
    assert type(response) is CloseConnection and response.code == 1002
    assert len(response.reason.encode("utf-8")) <= 123


def test_violation_after_local_close_closes_without_second_close_frame():
    for kind in RECEIVERS:
        conn = connection(kind, auto_reply=True)
        conn.send(CloseConnection(1000))
        conn.receive_data(wire_for(kind, [b"\x83\x00"]))
        assert_events(list(conn.events()), [ProtocolViolation(1002)])
        assert conn.state is CLOSED
        assert conn.data_to_send() == b""


def test_data_still_arrives_after_local_close():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.send(CloseConnection(1000))
        conn.receive_data(wire_for(kind, [b"\x81\x02Hi", b"\x88\x02\x03\xe8"]))
        assert list(conn.events()) == [TextMessage("Hi"), CloseConnection(1000, "")]
        assert conn.state is CLOSED


def test_ping_after_local_close_is_not_answered():
    # DESIGN §2: nothing is sent after our close frame.
    for kind in RECEIVERS:
        conn = connection(kind, auto_reply=True)
        conn.send(CloseConnection(1000))
        conn.receive_data(wire_for(kind, [b"\x89\x01p"]))
        assert list(conn.events()) == [Ping(b"p")]
        assert conn.data_to_send() == b""
        assert conn.state is LOCAL_CLOSING


def test_send_returns_queued_replies_first():
    client = connection(CLIENT, auto_reply=True)
    client.receive_data(b"\x89\x01p")
    list(client.events())
    out = client.send(TextMessage("Hello"))
    assert out == masked(b"\x8a\x01p") + HELLO_MASKED
    assert client.data_to_send() == b""


# -- EOF -----------------------------------------------------------------------------------


def test_eof_when_open_gives_1006_and_closed():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(None)
        assert list(conn.events()) == [CloseConnection(1006)]
        assert conn.state is CLOSED
        assert conn.data_to_send() == b""  # 1006 never goes on the wire


def test_eof_in_the_middle_of_a_message_gives_1006():
    for kind in RECEIVERS:
        conn = connection(kind, auto_reply=True)
        conn.receive_data(wire_for(kind, [b"\x01\x03Hel"]) + b"\x80")
        conn.receive_data(None)
        got = list(conn.events())
        assert got == [TextMessage("Hel", True, False), CloseConnection(1006)]
        assert conn.state is CLOSED and conn.data_to_send() == b""


def test_eof_when_local_closing_gives_1006_and_closed():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.send(CloseConnection(1000))
        conn.receive_data(None)
        assert list(conn.events()) == [CloseConnection(1006)]
        assert conn.state is CLOSED


def test_eof_after_peer_close_gives_no_event():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x88\x00"]))
        list(conn.events())
        conn.receive_data(None)
        assert list(conn.events()) == []
        assert conn.state is CLOSED
        conn.receive_data(None)
        assert list(conn.events()) == [] and conn.state is CLOSED


# -- sending -------------------------------------------------------------------------------


def test_client_masks_with_injected_key():
    client = connection(CLIENT)
    assert client.send(TextMessage("Hello")) == HELLO_MASKED
    assert client.send(Ping(b"Hello")) == b"\x89\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert client.send(BytesMessage(b"\x00" * 126)) == masked(b"\x82\x7e\x00\x7e" + bytes(126))


def test_client_asks_for_a_fresh_key_per_frame():
    keys = [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]
    asked = []

    def random_bytes(n):
        asked.append(n)
        return keys[len(asked) - 1]

    client = Connection(ConnectionType.CLIENT, random_bytes=random_bytes)
    first = client.send(TextMessage("a"))
    second = client.send(TextMessage("a"))
    assert asked == [4, 4]
    assert first == b"\x81\x81\x01\x02\x03\x04" + bytes((ord("a") ^ 1,))
    assert second == b"\x81\x81\x05\x06\x07\x08" + bytes((ord("a") ^ 5,))


def test_server_never_masks():
    server = connection(SERVER)
    assert server.send(TextMessage("Hello")) == b"\x81\x05Hello"
    assert server.send(BytesMessage(bytes(256))) == b"\x82\x7e\x01\x00" + bytes(256)
    assert server.send(Ping(b"Hello")) == b"\x89\x05Hello"
    assert server.send(Pong(b"")) == b"\x8a\x00"
    assert server.send(CloseConnection(1000, "bye")) == b"\x88\x05\x03\xe8bye"


def test_send_message_picks_opcode_from_data_type():
    server = connection(SERVER)
    assert server.send(Message("hi")) == b"\x81\x02hi"
    assert server.send(Message(b"hi")) == b"\x82\x02hi"
    assert server.send(Message(bytearray(b"hi"))) == b"\x82\x02hi"
    assert server.send(TextMessage("\u03ba")) == b"\x81\x02\xce\xba"


def test_fragmented_send_gives_start_then_continuation():
    for kind in RECEIVERS:
        conn = connection(kind)
        assert conn.send(TextMessage("Hel", message_finished=False)) == sent_by(
            kind, b"\x01\x03Hel"
        )
        assert conn.send(Ping(b"")) == sent_by(kind, b"\x89\x00")  # allowed mid-message
        assert conn.send(TextMessage("l", message_finished=False)) == sent_by(kind, b"\x00\x01l")
        assert conn.send(TextMessage("o")) == sent_by(kind, b"\x80\x01o")
        assert conn.send(BytesMessage(b"\x00")) == sent_by(kind, b"\x82\x01\x00")


def test_fragmented_send_arrives_as_one_message():
    client, server = pair()
    wire = client.send(BytesMessage(b"ab", message_finished=False))
    wire += client.send(BytesMessage(b"cd"))
    server.receive_data(wire)
    assert merge(list(server.events())) == [BytesMessage(b"abcd")]


def test_type_change_mid_message_raises_and_keeps_the_message_going():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.send(TextMessage("a", message_finished=False))
        raises(LocalProtocolError, conn.send, BytesMessage(b"b"))
        assert conn.state is OPEN
        assert conn.send(TextMessage("b")) == sent_by(kind, b"\x80\x01b")


def test_send_close_1005_or_none_gives_empty_payload():
    for kind in RECEIVERS:
        for event in (CloseConnection(1005), CloseConnection(None), CloseConnection(1005, "")):
            conn = connection(kind)
            assert conn.send(event) == sent_by(kind, b"\x88\x00")
            assert conn.state is LOCAL_CLOSING


def test_send_invalid_close_code_raises_with_state_unchanged():
    # Codes that no mode fixes up: refused, where wsproto would put them on the wire.
    for code in (0, 999, 1004, 1016, 2999, 5000):
        for strict in (False, True):
            conn = connection(SERVER, strict_close=strict)
            raises(LocalProtocolError, conn.send, CloseConnection(code))
            assert conn.state is OPEN, code
    conn = connection(SERVER)
    raises(LocalProtocolError, conn.send, CloseConnection(1005, "reason without a code"))
    raises(LocalProtocolError, conn.send, CloseConnection(None, "reason without a code"))
    assert conn.state is OPEN
    assert conn.send(CloseConnection(1000, "r" * 123)) == b"\x88\x7d\x03\xe8" + b"r" * 123


def test_send_local_only_close_code_goes_out_as_1000_as_in_wsproto():
    # 1006 and 1015 only describe a connection lost without a close frame (RFC 6455
    # §7.4.1); wsproto sends 1000 with the reason instead (trio-websocket relies on it).
    for code in (1006, 1015):
        conn = connection(SERVER)
        assert conn.send(CloseConnection(code, "gone")) == b"\x88\x06\x03\xe8gone"
        assert conn.state is LOCAL_CLOSING
    # 1005 ("no status") is an empty close frame.
    assert connection(SERVER).send(CloseConnection(1005)) == b"\x88\x00"


def test_send_long_close_reason_is_cut_at_a_character_as_in_wsproto():
    conn = connection(SERVER)
    assert conn.send(CloseConnection(1000, "r" * 200)) == b"\x88\x7d\x03\xe8" + b"r" * 123
    # 41 three-byte characters are 123 bytes: all fit; a 42nd does not, and is not split.
    for n, kept in ((41, 41), (42, 41), (60, 41)):
        out = connection(SERVER).send(CloseConnection(1001, "\u20ac" * n))
        assert out == bytes((0x88, 2 + 3 * kept, 0x03, 0xE9)) + ("\u20ac" * kept).encode("utf-8")
    # A four-byte character that would end past byte 123 is dropped whole.
    out = connection(SERVER).send(CloseConnection(1000, "a" * 121 + "\U0001f600"))
    assert out == b"\x88\x7b\x03\xe8" + b"a" * 121


def test_strict_close_refuses_what_wsproto_would_fix_up():
    for event in (CloseConnection(1006), CloseConnection(1015), CloseConnection(1000, "r" * 124)):
        conn = connection(SERVER, strict_close=True)
        assert conn.strict_close
        raises(LocalProtocolError, conn.send, event)
        assert conn.state is OPEN
    assert not connection(SERVER).strict_close


def test_send_ping_over_125_bytes_raises_with_state_unchanged():
    for kind in RECEIVERS:
        conn = connection(kind)
        raises(LocalProtocolError, conn.send, Ping(b"p" * 126))
        raises(LocalProtocolError, conn.send, Pong(b"p" * 126))
        assert conn.state is OPEN
        assert conn.send(Ping(b"p" * 125)) == sent_by(kind, b"\x89\x7d" + b"p" * 125)


def test_send_after_local_close_raises_with_state_unchanged():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.send(CloseConnection(1000))
        for event in (
            TextMessage("x"),
            BytesMessage(b"x"),
            Ping(b""),
            Pong(b""),
            CloseConnection(1000),
        ):
            raises(LocalProtocolError, conn.send, event)
            assert conn.state is LOCAL_CLOSING, event


def test_send_data_after_peer_close_raises_but_close_is_allowed():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x88\x02\x03\xe8"]))
        list(conn.events())
        for event in (TextMessage("x"), BytesMessage(b"x"), Ping(b""), Pong(b"")):
            raises(LocalProtocolError, conn.send, event)
            assert conn.state is REMOTE_CLOSING, event
        assert conn.send(CloseConnection(1000)) == sent_by(kind, b"\x88\x02\x03\xe8")
        assert conn.state is CLOSED


def test_send_anything_when_closed_raises():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(None)
        for event in (TextMessage("x"), Ping(b""), CloseConnection(1000)):
            raises(LocalProtocolError, conn.send, event)
            assert conn.state is CLOSED


def test_send_of_a_non_frame_event_raises():
    conn = connection(SERVER)
    raises(LocalProtocolError, conn.send, object())
    assert conn.state is OPEN


# -- the pair, back to back ----------------------------------------------------------------


def test_pair_delivers_every_event_three_ways_in_both_directions():
    sends = (
        TextMessage("Hello \u03ba\u1f79\u03c3\u03bc\u03b5"),
        BytesMessage(bytes(range(200))),
        Ping(b"ping"),
        Pong(b"pong"),
        TextMessage(""),
        CloseConnection(1000, "done"),
    )
    expected = [
        TextMessage("Hello \u03ba\u1f79\u03c3\u03bc\u03b5"),
        BytesMessage(bytes(range(200))),
        Ping(b"ping"),
        Pong(b"pong"),
        TextMessage(""),
        CloseConnection(1000, "done"),
    ]
    for sender_kind in RECEIVERS:
        receiver_kind = SERVER if sender_kind is CLIENT else CLIENT
        sender = connection(sender_kind)
        wire = b"".join([sender.send(e) for e in sends])
        for chunks in ([wire], bytewise(wire), [wire + b"\x81\x01x"]):
            receiver = connection(receiver_kind)
            got = merge(feed(receiver, chunks))
            assert got == expected, (name(sender_kind), got)
            assert receiver.state is REMOTE_CLOSING


def test_message_before_close_in_the_same_read_can_still_be_answered():
    # wsproto parses as events() is iterated, so an application that answers each message
    # as it sees it can answer one that arrived in the same read as the peer's close frame
    # or a bad frame (Autobahn 3.2, 4.1.3, 5.15 and 7.1.1 send them in one chop).
    cases = (
        ([b"\x81\x05Hello", b"\x88\x02\x03\xe8"], CloseConnection(1000, "")),
        ([b"\x81\x05Hello", b"\x83\x00"], ProtocolViolation(1002)),
    )
    for frames, last in cases:
        for kind in RECEIVERS:
            for auto_reply in (False, True):
                conn = connection(kind, auto_reply=auto_reply)
                conn.receive_data(wire_for(kind, frames))
                seen = []
                out = b""
                for event in conn.events():
                    seen.append(event)
                    if isinstance(event, TextMessage):
                        out += conn.send(TextMessage(event.data))
                    elif isinstance(event, CloseConnection) and not auto_reply:
                        out += conn.send(event.response())
                out += conn.data_to_send()
                assert_events(seen, [TextMessage("Hello"), last])
                assert conn.state is CLOSED
                echo = sent_by(kind, b"\x81\x05Hello")
                assert out.startswith(echo), (name(kind), auto_reply, out)
                assert close_frame_code(unmask_or_not(kind, out[len(echo) :]))[0] == last.code


def test_second_eof_before_events_keeps_the_1006():
    for kind in RECEIVERS:
        conn = connection(kind)
        conn.receive_data(wire_for(kind, [b"\x81\x02Hi"]))
        conn.receive_data(None)
        conn.receive_data(None)  # a transport may report EOF twice
        assert list(conn.events()) == [TextMessage("Hi"), CloseConnection(1006)]
        assert conn.state is CLOSED


def test_frames_fed_before_eof_are_still_delivered():
    for kind in RECEIVERS:
        conn = connection(kind, auto_reply=True)
        conn.receive_data(wire_for(kind, [b"\x81\x02Hi", b"\x89\x00", b"\x88\x02\x03\xe8"]))
        conn.receive_data(None)
        got = list(conn.events())
        assert got == [TextMessage("Hi"), Ping(b""), CloseConnection(1000, "")]
        assert conn.state is CLOSED
        assert conn.data_to_send() == b""  # too late to answer anything
