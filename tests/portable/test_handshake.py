"""wsproto_lite.handshake: the opening handshake, both roles, from literal bytes.

Runs under pytest and on MicroPython: bare asserts, no pytest import.
"""

from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto_lite.extensions import Extension, RsvBits
from wsproto_lite.handshake import H11Handshake, accept_key

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT

# RFC 6455 §1.2 and §1.3: the example request, its key and the response it gets.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
# RFC 6455 §5.7: "Hello", masked (client to server) and unmasked (server to client).
MASKED_HELLO = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
HELLO = b"\x81\x05Hello"

# The client's key when random_bytes gives bytes 0..15, and its accept value
# (computed with CPython's hashlib and base64, not with the code under test).
CLIENT_KEY = b"AAECAwQFBgcICQoLDA0ODw=="
CLIENT_ACCEPT = b"Bz3qJYTGdOe8gUSpLosEdiLKDrk="
CLIENT_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Origin: http://example.com\r\n"
    b"\r\n"
)
CLIENT_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: Bz3qJYTGdOe8gUSpLosEdiLKDrk=\r\n"
    b"\r\n"
)


def raises(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised" % exc_type.__name__)


def fixed_random(n):
    return bytes(range(n))


def request_with(drop=(), add=(), start=b"GET /chat HTTP/1.1"):
    """RFC_REQUEST with the start line replaced, header lines dropped by name, lines added."""
    lines = [start]
    for line in RFC_REQUEST.split(b"\r\n")[1:]:
        if line and line.split(b":")[0].lower() not in drop:
            lines.append(line)
    lines += list(add)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def server_fails(data, status):
    """Feeds data to a server; asserts it is refused with `status`; returns the error."""
    server = H11Handshake(SERVER)
    exc = raises(RemoteProtocolError, server.receive_data, data)
    assert isinstance(exc, HandshakeError)
    assert exc.status_code == status, (exc.status_code, str(exc))
    assert type(exc.event_hint) is RejectConnection
    assert exc.event_hint.status_code == status
    assert server.state is ConnectionState.CONNECTING
    assert list(server.events()) == []
    return exc


def open_server(data=RFC_REQUEST, **kwargs):
    server = H11Handshake(SERVER, **kwargs)
    server.receive_data(data)
    return server, list(server.events())


def client_sent(**kwargs):
    client = H11Handshake(CLIENT, random_bytes=fixed_random, **kwargs)
    client.send(
        Request(
            host="server.example.com",
            target="/chat",
            subprotocols=["chat", "superchat"],
            extra_headers=[(b"Origin", b"http://example.com")],
        )
    )
    return client


class Offered(Extension):
    """An extension that records what the handshake told it."""

    name = "x-test"

    def __init__(self, offer=True, answer=None):
        self._offer = offer
        self._answer = answer
        self.offers = []
        self.finalized = []

    def offer(self):
        return self._offer

    def accept(self, offer):
        self.offers.append(offer)
        return self._answer

    def finalize(self, offer):
        self.finalized.append(offer)

    def enabled(self):
        # As a real extension: on once the handshake agreed on it (either role).
        return bool(self.finalized) or any(self._answer for _ in self.offers)


# -- the accept key ---------------------------------------------------------------------


def test_rfc_example_key_gives_rfc_accept():
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_client_key_gives_independently_computed_accept():
    assert accept_key(CLIENT_KEY) == CLIENT_ACCEPT


# -- server: a good request -------------------------------------------------------------


def test_rfc_example_request_gives_request_event():
    server, events = open_server()
    assert events == [
        Request(
            host="server.example.com",
            target="/chat",
            extensions=[],
            extra_headers=[
                (b"upgrade", b"websocket"),
                (b"connection", b"Upgrade"),
                (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                (b"origin", b"http://example.com"),
                (b"sec-websocket-version", b"13"),
            ],
            subprotocols=["chat", "superchat"],
        )
    ]
    assert server.state is ConnectionState.CONNECTING
    assert server.connection is None


def test_rfc_example_accept_gives_rfc_response_and_opens():
    server, _ = open_server()
    assert server.send(AcceptConnection(subprotocol="chat")) == RFC_RESPONSE
    assert server.state is ConnectionState.OPEN
    assert server.connection is not None
    assert server.connection.state is ConnectionState.OPEN


def test_request_one_byte_at_a_time_gives_same_request():
    _, whole = open_server()
    server = H11Handshake(SERVER)
    events = []
    for i in range(len(RFC_REQUEST)):
        server.receive_data(RFC_REQUEST[i : i + 1])
        events += list(server.events())
    assert events == whole


def test_frame_in_same_chunk_as_request_reaches_connection():
    server, events = open_server(RFC_REQUEST + MASKED_HELLO)
    assert len(events) == 1
    server.send(AcceptConnection())
    assert list(server.connection.events()) == [TextMessage("Hello")]


def test_frame_after_request_before_accept_reaches_connection():
    server, _ = open_server()
    for i in range(len(MASKED_HELLO)):
        server.receive_data(MASKED_HELLO[i : i + 1])
    assert list(server.events()) == []
    server.send(AcceptConnection())
    assert list(server.connection.events()) == [TextMessage("Hello")]


def test_connection_keep_alive_upgrade_list_accepted():
    data = request_with(drop=(b"connection",), add=(b"Connection: keep-alive, Upgrade",))
    _, events = open_server(data)
    assert type(events[0]) is Request


def test_header_names_and_tokens_in_any_case_accepted():
    data = request_with(
        drop=(b"connection", b"upgrade"),
        add=(b"CONNECTION: UPGRADE", b"uPgRaDe: WebSocket"),
    )
    _, events = open_server(data)
    assert type(events[0]) is Request


def test_connection_tokens_over_two_lines_combine():
    data = request_with(
        drop=(b"connection",), add=(b"Connection: keep-alive", b"Connection: upgrade")
    )
    _, events = open_server(data)
    assert type(events[0]) is Request


def test_extension_offers_listed_in_request():
    data = request_with(
        add=(
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,",
            b'Sec-WebSocket-Extensions: x-test; p="a,b", x-other',
        )
    )
    _, events = open_server(data)
    assert events[0].extensions == [
        "permessage-deflate; client_max_window_bits",
        'x-test; p="a,b"',
        "x-other",
    ]


def test_whitespace_around_values_stripped():
    data = request_with(drop=(b"host",), add=(b"Host: \t example.org \t",))
    _, events = open_server(data)
    assert events[0].host == "example.org"


# -- server: bad requests, one rule each ------------------------------------------------


def test_http10_request_fails_400():
    server_fails(request_with(start=b"GET /chat HTTP/1.0"), 400)


def test_http2_version_fails_400():
    server_fails(request_with(start=b"GET /chat HTTP/2.0"), 400)


def test_request_line_without_version_fails_400():
    server_fails(request_with(start=b"GET /chat"), 400)


def test_request_line_with_double_space_fails_400():
    server_fails(request_with(start=b"GET  /chat HTTP/1.1"), 400)


def test_request_line_with_extra_part_fails_400():
    server_fails(request_with(start=b"GET /chat HTTP/1.1 x"), 400)


def test_request_line_with_bad_version_token_fails_400():
    server_fails(request_with(start=b"GET /chat HTTX/1.1"), 400)


def test_request_target_with_control_byte_fails_400():
    server_fails(request_with(start=b"GET /ch\x01at HTTP/1.1"), 400)


def test_empty_head_fails_400():
    server_fails(b"\r\n\r\n", 400)


def test_post_request_fails_405_with_allow():
    exc = server_fails(request_with(start=b"POST /chat HTTP/1.1"), 405)
    assert exc.event_hint.headers == [(b"Allow", b"GET")]


def test_missing_host_fails_400():
    server_fails(request_with(drop=(b"host",)), 400)


def test_repeated_host_fails_400():
    server_fails(request_with(add=(b"Host: other.example.com",)), 400)


def test_non_ascii_host_fails_400():
    server_fails(request_with(drop=(b"host",), add=(b"Host: caf\xc3\xa9.example",)), 400)


def test_missing_upgrade_fails_400():
    server_fails(request_with(drop=(b"upgrade",)), 400)


def test_upgrade_to_other_protocol_fails_400():
    server_fails(request_with(drop=(b"upgrade",), add=(b"Upgrade: h2c",)), 400)


def test_missing_connection_fails_400():
    server_fails(request_with(drop=(b"connection",)), 400)


def test_connection_without_upgrade_token_fails_400():
    server_fails(request_with(drop=(b"connection",), add=(b"Connection: keep-alive",)), 400)


def test_connection_upgrade_as_substring_fails_400():
    server_fails(request_with(drop=(b"connection",), add=(b"Connection: upgraded",)), 400)


def test_missing_key_fails_400():
    server_fails(request_with(drop=(b"sec-websocket-key",)), 400)


def test_repeated_key_fails_400():
    server_fails(request_with(add=(b"Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==",)), 400)


def test_key_of_15_bytes_fails_400():
    key = b"Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0O"  # base64 of 15 bytes
    server_fails(request_with(drop=(b"sec-websocket-key",), add=(key,)), 400)


def test_key_of_17_bytes_fails_400():
    key = b"Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODxA="  # base64 of 17 bytes
    server_fails(request_with(drop=(b"sec-websocket-key",), add=(key,)), 400)


def test_key_without_padding_fails_400():
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"
    server_fails(request_with(drop=(b"sec-websocket-key",), add=(key,)), 400)


def test_key_with_non_base64_character_fails_400():
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZ*Bub25jZQ=="
    server_fails(request_with(drop=(b"sec-websocket-key",), add=(key,)), 400)


def test_missing_version_fails_400():
    server_fails(request_with(drop=(b"sec-websocket-version",)), 400)


def test_repeated_version_fails_400():
    server_fails(request_with(add=(b"Sec-WebSocket-Version: 13",)), 400)


def test_version_8_fails_426_with_supported_version():
    data = request_with(drop=(b"sec-websocket-version",), add=(b"Sec-WebSocket-Version: 8",))
    exc = server_fails(data, 426)
    assert exc.event_hint.headers == [(b"Sec-WebSocket-Version", b"13")]


def test_obs_fold_fails_400():
    server_fails(request_with(add=(b"X-Long: first", b" continued")), 400)


def test_space_before_colon_fails_400():
    server_fails(request_with(add=(b"X-Bad : value",)), 400)


def test_space_inside_header_name_fails_400():
    server_fails(request_with(add=(b"X Bad: value",)), 400)


def test_header_line_without_colon_fails_400():
    server_fails(request_with(add=(b"X-Bad",)), 400)


def test_empty_header_name_fails_400():
    server_fails(request_with(add=(b": value",)), 400)


def test_bare_cr_in_value_fails_400():
    server_fails(request_with(add=(b"X-Bad: a\rb",)), 400)


def test_bare_lf_in_value_fails_400():
    server_fails(request_with(add=(b"X-Bad: a\nb",)), 400)


def test_nul_in_value_fails_400():
    server_fails(request_with(add=(b"X-Bad: a\x00b",)), 400)


def test_subprotocol_not_a_token_fails_400():
    data = request_with(drop=(b"sec-websocket-protocol",), add=(b"Sec-WebSocket-Protocol: a/b",))
    server_fails(data, 400)


def test_oversize_head_fails_431():
    filler = b"X-Filler: " + b"a" * 16384
    server_fails(request_with(add=(filler,)), 431)


def test_head_exactly_at_limit_accepted():
    limit = len(RFC_REQUEST)
    _, events = open_server(RFC_REQUEST, max_handshake_size=limit)
    assert type(events[0]) is Request


def test_head_one_byte_over_limit_fails_431():
    server = H11Handshake(SERVER, max_handshake_size=len(RFC_REQUEST) - 1)
    exc = raises(HandshakeError, server.receive_data, RFC_REQUEST)
    assert exc.status_code == 431


def test_endless_head_refused_within_one_chunk_of_limit():
    server = H11Handshake(SERVER, max_handshake_size=4096)
    server.receive_data(b"GET /chat HTTP/1.1\r\n")
    fed = 0
    chunk = b"X-Filler: " + b"a" * 1012 + b"\r\n"  # 1024 bytes, never a blank line
    try:
        while fed < 1 << 20:
            server.receive_data(chunk)
            fed += len(chunk)
    except HandshakeError as exc:
        assert exc.status_code == 431
    else:
        raise AssertionError("endless head accepted")
    assert fed <= 4096


def test_huge_chunk_after_limit_refused_431():
    server = H11Handshake(SERVER, max_handshake_size=1024)
    exc = raises(HandshakeError, server.receive_data, b"GET / HTTP/1.1\r\n" + b"a" * 100000)
    assert exc.status_code == 431


def test_frames_before_accept_over_limit_fail_400():
    server, _ = open_server(max_handshake_size=1024)
    server.receive_data(b"\x82\x80" + b"1234" * 100)
    exc = raises(HandshakeError, server.receive_data, b"\x00" * 700)
    assert exc.status_code == 400


def test_data_after_bad_request_ignored():
    server = H11Handshake(SERVER)
    raises(HandshakeError, server.receive_data, request_with(drop=(b"host",)))
    server.receive_data(RFC_REQUEST)
    assert list(server.events()) == []
    assert server.state is ConnectionState.CONNECTING


# -- server: answering ------------------------------------------------------------------


def test_bad_request_hint_sends_400_response_and_closes():
    server = H11Handshake(SERVER)
    exc = raises(HandshakeError, server.receive_data, request_with(drop=(b"host",)))
    data = server.send(exc.event_hint)
    # As wsproto (h11) sends it: no reason phrase, no Connection header.
    assert data == b"HTTP/1.1 400 \r\ncontent-length: 0\r\n\r\n"
    assert server.state is ConnectionState.CLOSED


def test_version_hint_sends_426_with_version_header():
    server = H11Handshake(SERVER)
    data = request_with(drop=(b"sec-websocket-version",), add=(b"Sec-WebSocket-Version: 7",))
    exc = raises(HandshakeError, server.receive_data, data)
    assert server.send(exc.event_hint) == (
        b"HTTP/1.1 426 \r\nSec-WebSocket-Version: 13\r\ncontent-length: 0\r\n\r\n"
    )


def test_accept_after_bad_request_fails_local_error():
    server = H11Handshake(SERVER)
    raises(HandshakeError, server.receive_data, request_with(drop=(b"host",)))
    raises(LocalProtocolError, server.send, AcceptConnection())
    assert server.state is ConnectionState.CONNECTING


def test_accept_before_request_fails_local_error():
    server = H11Handshake(SERVER)
    raises(LocalProtocolError, server.send, AcceptConnection())


def test_accept_unoffered_subprotocol_fails_local_error():
    server, _ = open_server()
    raises(LocalProtocolError, server.send, AcceptConnection(subprotocol="other"))
    assert server.state is ConnectionState.CONNECTING


def test_accept_extra_header_with_crlf_fails_local_error():
    server, _ = open_server()
    event = AcceptConnection(extra_headers=[(b"X-Evil", b"a\r\nSet-Cookie: x=1")])
    raises(LocalProtocolError, server.send, event)
    assert server.state is ConnectionState.CONNECTING


def test_accept_extra_header_with_nul_fails_local_error():
    server, _ = open_server()
    raises(LocalProtocolError, server.send, AcceptConnection(extra_headers=[("X-A", "a\x00")]))


def test_accept_extra_headers_follow_ours():
    server, _ = open_server()
    data = server.send(AcceptConnection(extra_headers=[("X-Server", "lite")]))
    assert data == RFC_RESPONSE.replace(
        b"Sec-WebSocket-Protocol: chat\r\n\r\n", b"X-Server: lite\r\n\r\n"
    )


def test_accept_twice_fails_local_error():
    server, _ = open_server()
    server.send(AcceptConnection())
    raises(LocalProtocolError, server.send, AcceptConnection())


def test_receive_after_open_fails_local_error():
    server, _ = open_server()
    server.send(AcceptConnection())
    raises(LocalProtocolError, server.receive_data, MASKED_HELLO)


def test_reject_without_body_adds_content_length_0_and_closes():
    server, _ = open_server()
    data = server.send(RejectConnection(status_code=403))
    assert data == b"HTTP/1.1 403 \r\ncontent-length: 0\r\n\r\n"
    assert server.state is ConnectionState.CLOSED


def test_reject_with_body_sends_data_then_closes():
    server, _ = open_server()
    headers = [(b"Content-Length", b"9"), (b"Content-Type", b"text/plain")]
    data = server.send(RejectConnection(status_code=401, headers=headers, has_body=True))
    assert data == (b"HTTP/1.1 401 \r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\n")
    assert server.state is ConnectionState.REJECTING
    assert server.send(RejectData(b"go ", body_finished=False)) == b"go "
    assert server.state is ConnectionState.REJECTING
    assert server.send(RejectData(b"away!\n")) == b"away!\n"
    assert server.state is ConnectionState.CLOSED


def test_reject_body_without_length_is_sent_chunked_as_h11_does():
    server, _ = open_server()
    head = server.send(RejectConnection(status_code=403, has_body=True))
    assert head == b"HTTP/1.1 403 \r\ntransfer-encoding: chunked\r\n\r\n"
    assert server.send(RejectData(b"hardbody", body_finished=False)) == b"8\r\nhardbody\r\n"
    # An empty piece sends nothing: a zero-size chunk would end the body early.
    assert server.send(RejectData(b"", body_finished=False)) == b""
    assert server.state is ConnectionState.REJECTING
    assert server.send(RejectData(b"0123456789abcdefg")) == b"11\r\n0123456789abcdefg\r\n0\r\n\r\n"
    assert server.state is ConnectionState.CLOSED


def test_reject_body_chunked_round_trips_through_our_client():
    server, client = open_server()[0], client_sent()
    wire = server.send(RejectConnection(status_code=500, has_body=True))
    wire += server.send(RejectData(b"oops ", body_finished=False))
    wire += server.send(RejectData(b"again", body_finished=True))
    client.receive_data(wire)
    events = list(client.events())
    assert events[0].status_code == 500
    assert b"".join(e.data for e in events[1:]) == b"oops again"
    assert events[-1] == RejectData(b"", True) and client.state is ConnectionState.CLOSED


def test_reject_body_held_to_its_content_length():
    server, _ = open_server()
    server.send(RejectConnection(headers=[(b"Content-Length", b"4")], has_body=True))
    raises(LocalProtocolError, server.send, RejectData(b"12345", body_finished=False))
    assert server.state is ConnectionState.REJECTING  # nothing sent, nothing changed
    assert server.send(RejectData(b"12", body_finished=False)) == b"12"
    raises(LocalProtocolError, server.send, RejectData(b"3", body_finished=True))
    assert server.send(RejectData(b"34", body_finished=True)) == b"34"
    assert server.state is ConnectionState.CLOSED


def test_reject_with_given_transfer_encoding_chunked_is_chunked():
    server, _ = open_server()
    head = server.send(
        RejectConnection(headers=[(b"Transfer-Encoding", b"chunked")], has_body=True)
    )
    assert head == b"HTTP/1.1 400 \r\nTransfer-Encoding: chunked\r\n\r\n"
    assert server.send(RejectData(b"ab")) == b"2\r\nab\r\n0\r\n\r\n"


def test_reject_204_has_no_body():
    server, _ = open_server()
    assert server.send(RejectConnection(status_code=204, has_body=True)) == b"HTTP/1.1 204 \r\n\r\n"
    raises(LocalProtocolError, server.send, RejectData(b"x"))
    assert server.send(RejectData(b"")) == b""
    assert server.state is ConnectionState.CLOSED


def test_reject_with_malformed_content_length_fails_local_error():
    for value in (b"abc", b"-1", b"1, 2"):
        server, _ = open_server()
        event = RejectConnection(headers=[(b"Content-Length", value)], has_body=True)
        raises(LocalProtocolError, server.send, event)
        assert server.state is ConnectionState.CONNECTING


def test_reject_with_unknown_status_has_empty_reason():
    server, _ = open_server()
    data = server.send(RejectConnection(status_code=499))
    assert data.startswith(b"HTTP/1.1 499 \r\n")


def test_reject_with_status_101_fails_local_error():
    server, _ = open_server()
    raises(LocalProtocolError, server.send, RejectConnection(status_code=101))


def test_reject_header_with_lf_fails_local_error():
    server, _ = open_server()
    raises(LocalProtocolError, server.send, RejectConnection(headers=[("X-A", "a\nb")]))
    assert server.state is ConnectionState.CONNECTING


def test_reject_data_before_reject_fails_local_error():
    server, _ = open_server()
    raises(LocalProtocolError, server.send, RejectData(b"x"))


def test_reject_after_accept_fails_local_error():
    server, _ = open_server()
    server.send(AcceptConnection())
    raises(LocalProtocolError, server.send, RejectConnection())


def test_server_cannot_send_request():
    server = H11Handshake(SERVER)
    raises(LocalProtocolError, server.send, Request(host="a", target="/"))


# -- server: EOF ------------------------------------------------------------------------


def test_server_eof_before_any_byte_closes_quietly():
    server = H11Handshake(SERVER)
    server.receive_data(None)
    assert server.state is ConnectionState.CLOSED
    assert list(server.events()) == []


def test_server_eof_inside_head_fails_400():
    server = H11Handshake(SERVER)
    server.receive_data(RFC_REQUEST[:40])
    exc = raises(HandshakeError, server.receive_data, None)
    assert exc.status_code == 400
    assert server.state is ConnectionState.CONNECTING


def test_server_eof_after_request_reported_by_connection_as_1006():
    server, _ = open_server(RFC_REQUEST + MASKED_HELLO)
    server.receive_data(None)
    server.send(AcceptConnection())
    assert list(server.connection.events()) == [TextMessage("Hello"), CloseConnection(1006)]


# -- server: a request parsed by a framework -------------------------------------------


def test_initiate_upgrade_connection_queues_request():
    _, whole = open_server()
    server = H11Handshake(SERVER)
    headers = [
        (b"Host", b"server.example.com"),
        ("Upgrade", "websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Origin", b"http://example.com"),
        (b"Sec-WebSocket-Protocol", b"chat, superchat"),
        (b"Sec-WebSocket-Version", b"13"),
    ]
    server.initiate_upgrade_connection(headers, "/chat")
    assert list(server.events()) == whole
    assert server.send(AcceptConnection(subprotocol="chat")) == RFC_RESPONSE


def test_initiate_upgrade_connection_with_crlf_in_value_fails_400():
    server = H11Handshake(SERVER)
    headers = [(b"Host", b"a\r\nHost: b")]
    exc = raises(HandshakeError, server.initiate_upgrade_connection, headers, b"/")
    assert exc.status_code == 400


def test_initiate_upgrade_connection_with_bad_request_fails_400():
    server = H11Handshake(SERVER)
    exc = raises(HandshakeError, server.initiate_upgrade_connection, [(b"Host", b"a")], b"/")
    assert exc.status_code == 400


def test_initiate_upgrade_connection_on_client_fails_local_error():
    client = H11Handshake(CLIENT)
    raises(LocalProtocolError, client.initiate_upgrade_connection, [], "/")


# -- server: extensions -----------------------------------------------------------------


def test_accepted_extension_answered_and_given_to_connection():
    data = request_with(add=(b"Sec-WebSocket-Extensions: x-test; p=1, x-test",))
    server, _ = open_server(data)
    extension = Offered(answer="p=1")
    response = server.send(AcceptConnection(extensions=[extension]))
    assert b"\r\nSec-WebSocket-Extensions: x-test; p=1\r\n" in response
    assert extension.offers == ["x-test; p=1"]  # the first accepted offer wins
    assert server.connection.extensions == [extension]


def test_extension_accepted_without_parameters_answered_by_name():
    server, _ = open_server(request_with(add=(b"Sec-WebSocket-Extensions: x-test",)))
    response = server.send(AcceptConnection(extensions=[Offered(answer=True)]))
    assert b"\r\nSec-WebSocket-Extensions: x-test\r\n" in response


def test_declined_extension_left_out_of_response():
    server, _ = open_server(request_with(add=(b"Sec-WebSocket-Extensions: x-test",)))
    extension = Offered(answer=None)
    response = server.send(AcceptConnection(extensions=[extension]))
    assert b"Sec-WebSocket-Extensions" not in response
    assert extension.offers == ["x-test"]
    assert server.connection.extensions == []


def test_unoffered_extension_never_asked():
    server, _ = open_server()
    extension = Offered(answer=True)
    response = server.send(AcceptConnection(extensions=[extension]))
    assert b"Sec-WebSocket-Extensions" not in response
    assert extension.offers == []


# -- client: the request ----------------------------------------------------------------


def test_client_request_bytes_exact():
    client = H11Handshake(CLIENT, random_bytes=fixed_random)
    data = client.send(
        Request(
            host="server.example.com",
            target="/chat",
            subprotocols=["chat", "superchat"],
            extra_headers=[(b"Origin", b"http://example.com")],
        )
    )
    assert data == CLIENT_REQUEST
    assert client.state is ConnectionState.CONNECTING


def test_client_request_offers_extensions():
    client = H11Handshake(CLIENT, random_bytes=fixed_random)
    extensions = [Offered(offer="p=1"), Offered(offer=False)]
    data = client.send(Request(host="h", target="/", extensions=extensions))
    assert b"\r\nSec-WebSocket-Extensions: x-test; p=1\r\n" in data


def test_client_request_twice_fails_local_error():
    client = client_sent()
    raises(LocalProtocolError, client.send, Request(host="a", target="/"))


def test_client_request_with_crlf_header_fails_local_error():
    client = H11Handshake(CLIENT)
    event = Request(host="a", target="/", extra_headers=[(b"X", b"1\r\n\r\nGET /evil")])
    raises(LocalProtocolError, client.send, event)
    # Nothing was sent, so a correct request may follow.
    client.send(Request(host="a", target="/"))


def test_client_request_target_with_space_fails_local_error():
    client = H11Handshake(CLIENT)
    raises(LocalProtocolError, client.send, Request(host="a", target="/a b"))


def test_client_subprotocol_not_token_fails_local_error():
    client = H11Handshake(CLIENT)
    raises(LocalProtocolError, client.send, Request(host="a", target="/", subprotocols=["a b"]))


def test_client_cannot_send_accept():
    client = H11Handshake(CLIENT)
    raises(LocalProtocolError, client.send, AcceptConnection())


# -- client: the response ---------------------------------------------------------------


def test_client_101_accepted_and_trailing_frame_kept():
    client = client_sent()
    client.receive_data(CLIENT_101 + HELLO)
    assert list(client.events()) == [AcceptConnection()]
    assert client.state is ConnectionState.OPEN
    assert list(client.connection.events()) == [TextMessage("Hello")]


def test_client_101_one_byte_at_a_time_accepted():
    client = client_sent()
    data = CLIENT_101 + HELLO
    events = []
    for i in range(len(CLIENT_101)):
        client.receive_data(data[i : i + 1])
        events += list(client.events())
    assert events == [AcceptConnection()]
    client.connection.receive_data(data[len(CLIENT_101) :])
    assert list(client.connection.events()) == [TextMessage("Hello")]


def test_client_101_with_subprotocol_and_extra_headers_reported():
    client = client_sent()
    client.receive_data(
        CLIENT_101[:-2] + b"Sec-WebSocket-Protocol: superchat\r\nX-Server: lite\r\n\r\n"
    )
    assert list(client.events()) == [
        AcceptConnection(subprotocol="superchat", extra_headers=[(b"x-server", b"lite")])
    ]


def test_client_101_with_token_lists_accepted():
    client = client_sent()
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: WebSocket\r\n"
        b"connection: keep-alive, UPGRADE\r\n"
        b"sec-websocket-accept: Bz3qJYTGdOe8gUSpLosEdiLKDrk=\r\n"
        b"\r\n"
    )
    assert client.state is ConnectionState.OPEN


def test_client_wrong_accept_fails_and_closes():
    client = client_sent()
    data = CLIENT_101.replace(CLIENT_ACCEPT, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    raises(RemoteProtocolError, client.receive_data, data)
    assert client.state is ConnectionState.CLOSED
    assert client.connection is None


def test_client_missing_accept_fails():
    client = client_sent()
    data = CLIENT_101.replace(b"Sec-WebSocket-Accept: " + CLIENT_ACCEPT + b"\r\n", b"")
    raises(RemoteProtocolError, client.receive_data, data)


def test_client_missing_upgrade_fails():
    client = client_sent()
    raises(RemoteProtocolError, client.receive_data, CLIENT_101.replace(b"Upgrade: web", b"X: "))


def test_client_missing_connection_upgrade_fails():
    client = client_sent()
    data = CLIENT_101.replace(b"Connection: Upgrade", b"Connection: close")
    raises(RemoteProtocolError, client.receive_data, data)


def test_client_unoffered_subprotocol_fails():
    client = client_sent()
    data = CLIENT_101[:-2] + b"Sec-WebSocket-Protocol: other\r\n\r\n"
    raises(RemoteProtocolError, client.receive_data, data)
    assert client.state is ConnectionState.CLOSED


def test_client_two_subprotocols_fail():
    client = client_sent()
    data = CLIENT_101[:-2] + b"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    raises(RemoteProtocolError, client.receive_data, data)


def test_client_unoffered_extension_fails():
    client = client_sent()
    data = CLIENT_101[:-2] + b"Sec-WebSocket-Extensions: x-test\r\n\r\n"
    raises(RemoteProtocolError, client.receive_data, data)


def test_client_accepted_extension_finalized_and_given_to_connection():
    client = H11Handshake(CLIENT, random_bytes=fixed_random)
    extension = Offered(offer="p=1")
    client.send(Request(host="h", target="/", extensions=[extension]))
    client.receive_data(CLIENT_101[:-2] + b"Sec-WebSocket-Extensions: x-test; p=2\r\n\r\n")
    assert list(client.events()) == [AcceptConnection(extensions=[extension])]
    assert extension.finalized == ["x-test; p=2"]
    assert client.connection.extensions == [extension]


def test_client_101_in_http10_fails():
    client = client_sent()
    raises(RemoteProtocolError, client.receive_data, CLIENT_101.replace(b"HTTP/1.1", b"HTTP/1.0"))


def test_client_malformed_status_line_fails():
    client = client_sent()
    raises(RemoteProtocolError, client.receive_data, b"HTTP/1.1 1O1 Nope\r\n\r\n")


def test_client_oversize_response_head_fails():
    client = client_sent(max_handshake_size=1024)
    raises(RemoteProtocolError, client.receive_data, CLIENT_101[:-2] + b"X: " + b"a" * 1024)
    assert client.state is ConnectionState.CLOSED


def test_client_response_before_request_fails():
    client = H11Handshake(CLIENT, random_bytes=fixed_random)
    raises(RemoteProtocolError, client.receive_data, CLIENT_101)


def test_client_eof_before_response_fails():
    client = client_sent()
    client.receive_data(CLIENT_101[:20])
    raises(RemoteProtocolError, client.receive_data, None)
    assert client.state is ConnectionState.CLOSED


# -- client: rejections -----------------------------------------------------------------

FORBIDDEN = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\ngo away!\r\n"
)


def test_client_403_with_body_gives_reject_then_data():
    client = client_sent()
    client.receive_data(FORBIDDEN)
    assert list(client.events()) == [
        RejectConnection(
            status_code=403,
            headers=[(b"content-type", b"text/plain"), (b"content-length", b"10")],
            has_body=True,
        ),
        # As wsproto (h11's Data, then EndOfMessage): the end of the body on its own.
        RejectData(b"go away!\r\n", body_finished=False),
        RejectData(b"", body_finished=True),
    ]
    assert client.state is ConnectionState.CLOSED


def test_client_403_one_byte_at_a_time_gives_same_body():
    client = client_sent()
    events = []
    for i in range(len(FORBIDDEN)):
        client.receive_data(FORBIDDEN[i : i + 1])
        events += list(client.events())
    assert type(events[0]) is RejectConnection
    assert b"".join(e.data for e in events[1:]) == b"go away!\r\n"
    assert [e.body_finished for e in events[1:]] == [False] * 10 + [True]
    assert events[-1].data == b""
    assert client.state is ConnectionState.CLOSED


def test_client_bytes_after_body_ignored():
    client = client_sent()
    client.receive_data(FORBIDDEN + b"HTTP/1.1 200 OK\r\n\r\n")
    assert len(list(client.events())) == 3  # RejectConnection, the body, its end
    client.receive_data(b"more")
    client.receive_data(None)
    assert list(client.events()) == []


def test_client_empty_body_finishes_at_once():
    client = client_sent()
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    events = list(client.events())
    assert events[1:] == [RejectData(b"", body_finished=True)]
    assert client.state is ConnectionState.CLOSED


def test_client_redirect_reported_as_rejection():
    client = client_sent()
    client.receive_data(
        b"HTTP/1.1 302 Found\r\nLocation: wss://other.example/chat\r\nContent-Length: 0\r\n\r\n"
    )
    events = list(client.events())
    assert events[0].status_code == 302
    assert (b"location", b"wss://other.example/chat") in events[0].headers


def test_client_chunked_body_decoded():
    client = client_sent()
    client.receive_data(
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n"
        b"1\r\n \r\n"
    )
    client.receive_data(b"6\r\nworld!\r\n0\r\nX-Trailer: 1\r\n\r\n")
    events = list(client.events())
    assert events[1:] == [
        RejectData(b"hello ", False),
        RejectData(b"world!", False),
        RejectData(b"", True),
    ]
    assert client.state is ConnectionState.CLOSED


def test_client_chunked_body_one_byte_at_a_time_decoded():
    client = client_sent()
    data = (
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"a\r\n0123456789\r\n0\r\n\r\n"
    )
    events = []
    for i in range(len(data)):
        client.receive_data(data[i : i + 1])
        events += list(client.events())
    assert b"".join(e.data for e in events[1:]) == b"0123456789"
    assert events[-1].body_finished
    assert client.state is ConnectionState.CLOSED


def test_client_malformed_chunk_size_fails():
    client = client_sent()
    head = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
    raises(RemoteProtocolError, client.receive_data, head + b"zz\r\nhello\r\n")
    assert client.state is ConnectionState.CLOSED


def test_client_body_until_eof_finishes_at_eof():
    client = client_sent()
    client.receive_data(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy")
    client.receive_data(b", later")
    client.receive_data(None)
    assert list(client.events())[1:] == [
        RejectData(b"busy", False),
        RejectData(b", later", False),
        RejectData(b"", True),
    ]
    assert client.state is ConnectionState.CLOSED


def test_client_body_cut_short_by_eof_fails():
    client = client_sent()
    client.receive_data(FORBIDDEN[:-3])
    raises(RemoteProtocolError, client.receive_data, None)
    assert client.state is ConnectionState.CLOSED


def test_client_body_over_limit_truncated_and_finished():
    client = client_sent(max_reject_body_size=8)
    client.receive_data(FORBIDDEN)
    assert list(client.events())[1:] == [RejectData(b"go away!", False), RejectData(b"", True)]
    assert client.state is ConnectionState.CLOSED


def test_client_conflicting_content_lengths_fail():
    client = client_sent()
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    raises(RemoteProtocolError, client.receive_data, data)


def test_client_interim_response_rejects_without_body():
    client = client_sent()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert list(client.events()) == [RejectConnection(status_code=100, has_body=False)]
    assert client.state is ConnectionState.CLOSED


# -- extensions.py ----------------------------------------------------------------------


def test_rsvbits_int_round_trip():
    for bits in range(8):
        assert RsvBits.from_int(bits).to_int() == bits
    assert RsvBits.from_int(4) == RsvBits(True, False, False)


def test_rsvbits_compare_and_unpack_like_tuple():
    rsv = RsvBits(True, False, True)
    assert rsv == (True, False, True)
    assert rsv != RsvBits(True, False, False)
    rsv1, rsv2, rsv3 = rsv
    assert (rsv1, rsv2, rsv3) == (True, False, True)
    assert rsv[2] is True
    assert rsv.rsv1 and not rsv.rsv2


def test_extension_base_passes_frames_through():
    extension = Extension()
    assert not extension.enabled()
    assert extension.accept("x") is None
    assert extension.frame_inbound_header(None, 1, RsvBits(), 5) == RsvBits(False, False, False)
    assert extension.frame_inbound_payload_data(None, b"ab") == b"ab"
    assert extension.frame_inbound_complete(None, True) is None
    assert extension.frame_outbound(None, 1, RsvBits(), b"ab", True) == (RsvBits(), b"ab")
    raises(NotImplementedError, extension.offer)
