"""wsproto_lite.handshake, property-based: what we build parses back the same, in any chunking.

Also the fuzz invariant of the handshake: any bytes give events or a RemoteProtocolError
(a HandshakeError with its status, on the server), never another exception.
"""

import base64
import hashlib
import http

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto_lite.extensions import Extension
from wsproto_lite.handshake import H11Handshake, accept_key

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT

TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RESERVED = {
    b"host",
    b"upgrade",
    b"connection",
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-protocol",
    b"sec-websocket-extensions",
    b"sec-websocket-accept",
    b"content-length",
    b"transfer-encoding",
}

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
header_names = tokens.map(str.encode).filter(lambda n: n.lower() not in RESERVED)
# Field values: visible ASCII and obs-text, inner spaces and tabs; no outer whitespace.
value_bytes = st.sampled_from(list(range(0x21, 0x7F)) + list(range(0x80, 0x100)))
header_values = st.one_of(
    st.just(b""),
    value_bytes.map(lambda c: bytes([c])),
    st.builds(
        lambda first, middle, last: bytes([first, *middle, last]),
        value_bytes,
        st.lists(st.one_of(value_bytes, st.sampled_from([0x20, 0x09])), max_size=20),
        value_bytes,
    ),
)
extra_headers = st.lists(st.tuples(header_names, header_values), max_size=5)
hosts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=30)
targets = st.text(alphabet="".join(chr(c) for c in range(0x21, 0x7F)), max_size=40).map(
    lambda t: "/" + t
)
keys = st.binary(min_size=16, max_size=16)
statuses = st.integers(200, 599)
body_statuses = statuses.filter(lambda s: s not in (204, 304))  # never have a body


def feed(hs, data, cuts):
    """Feed data cut at the given points (any ints); collect the handshake's events.

    No piece is empty: during the handshake b"" means EOF, as in wsproto (h11); see
    test_empty_bytes_during_the_handshake_are_eof.
    """
    points = sorted({c % (len(data) + 1) for c in cuts} - {0, len(data)})
    events = []
    start = 0
    for point in [*points, len(data)]:
        if hs.connection is None:
            hs.receive_data(data[start:point])
            events += list(hs.events())
        else:  # as WSConnection does: once open, the bytes are the Connection's
            hs.connection.receive_data(data[start:point])
        start = point
    return events


cut_lists = st.lists(st.integers(0, 1 << 16), max_size=8)


class Named(Extension):
    def __init__(self, name, params):
        self.name = name
        self.params = params
        self.finalized = []
        self.accepted = False

    def offer(self):
        return self.params

    def accept(self, offer):
        self.accepted = True
        return self.params

    def finalize(self, offer):
        self.finalized.append(offer)

    def enabled(self):
        # As a real extension: on once the handshake agreed on it (either role).
        return self.accepted or bool(self.finalized)


@given(hosts, targets, st.lists(tokens, unique=True, max_size=4), extra_headers, keys, cut_lists)
def test_client_request_parses_back_in_any_chunking(host, target, protocols, extra, key, cuts):
    client = H11Handshake(CLIENT, random_bytes=lambda n: key)
    data = client.send(
        Request(host=host, target=target, subprotocols=protocols, extra_headers=extra)
    )
    server = H11Handshake(SERVER)
    events = feed(server, data, cuts)
    assert len(events) == 1
    request = events[0]
    assert (request.host, request.target, request.subprotocols) == (host, target, protocols)
    nonce = base64.b64encode(key)
    assert request.extra_headers == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", nonce),
        (b"sec-websocket-version", b"13"),
    ] + [(name.lower(), value) for name, value in extra]


@given(st.lists(tokens, unique=True, min_size=1, max_size=4), st.data(), extra_headers, cut_lists)
def test_server_accept_parses_back_in_any_chunking(protocols, data, extra, cuts):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    server.receive_data(client.send(Request(host="h", target="/", subprotocols=protocols)))
    list(server.events())
    chosen = data.draw(st.one_of(st.none(), st.sampled_from(protocols)))
    response = server.send(AcceptConnection(subprotocol=chosen, extra_headers=extra))
    events = feed(client, response, cuts)
    assert events == [
        AcceptConnection(
            subprotocol=chosen, extra_headers=[(name.lower(), value) for name, value in extra]
        )
    ]
    assert client.state is ConnectionState.OPEN
    assert server.state is ConnectionState.OPEN


@given(keys)
def test_accept_key_matches_hashlib_and_base64(key):
    nonce = base64.b64encode(key)
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(nonce) == base64.b64encode(hashlib.sha1(nonce + guid).digest())


@given(
    st.lists(st.tuples(tokens, st.sampled_from(["", "a=1", 'q="x, y"'])), max_size=3),
    cut_lists,
)
def test_extensions_negotiate_in_any_chunking(specs, cuts):
    names = []
    for name, _ in specs:
        if name not in names:
            names.append(name)
    params = dict(specs)
    offered = [Named(name, params[name]) for name in names]
    supported = [Named(name, params[name]) for name in names]
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    request = feed(server, client.send(Request(host="h", target="/", extensions=offered)), cuts)
    expected = [name + ("; " + params[name] if params[name] else "") for name in names]
    assert request[0].extensions == expected
    events = feed(client, server.send(AcceptConnection(extensions=supported)), cuts)
    assert events == [AcceptConnection(extensions=offered)]
    assert [e.finalized for e in offered] == [[offer] for offer in expected]
    assert server.connection.extensions == supported
    assert client.connection.extensions == offered


@given(st.binary(max_size=300), cut_lists)
def test_frames_after_101_survive_any_chunking(payload, cuts):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    response = server.send(AcceptConnection())
    frame = b"\x82" + bytes([len(payload)]) + payload if len(payload) < 126 else None
    if frame is None:
        frame = b"\x82\x7e" + len(payload).to_bytes(2, "big") + payload
    events = feed(client, response + frame, cuts)
    assert events == [AcceptConnection()]
    got = b"".join(e.data for e in client.connection.events() if type(e) is BytesMessage)
    assert got == payload


@given(st.binary(max_size=300), cut_lists)
def test_frames_after_request_survive_any_chunking(payload, cuts):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    key = b"\x37\xfa\x21\x3d"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        frame = b"\x82" + bytes([0x80 | len(payload)]) + key + masked
    else:
        frame = b"\x82\xfe" + len(payload).to_bytes(2, "big") + key + masked
    events = feed(server, client.send(Request(host="h", target="/")) + frame, cuts)
    assert [type(e) for e in events] == [Request]
    server.send(AcceptConnection())
    got = b"".join(e.data for e in server.connection.events() if type(e) is BytesMessage)
    assert got == payload


@given(body_statuses, extra_headers, st.binary(max_size=500), cut_lists, st.booleans())
def test_rejection_with_body_parses_back_in_any_chunking(status, extra, body, cuts, sized):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    headers = list(extra)
    if sized:
        headers.append((b"Content-Length", str(len(body)).encode()))
    wire = server.send(RejectConnection(status_code=status, headers=headers, has_body=True))
    wire += server.send(RejectData(body))
    assert server.state is ConnectionState.CLOSED
    if not wire:
        return
    events = feed(client, wire, cuts)
    expected_headers = [(name.lower(), value) for name, value in headers]
    if not sized:  # no length given: sent chunked, as h11 sends wsproto's rejections
        expected_headers.append((b"transfer-encoding", b"chunked"))
    assert events[0] == RejectConnection(status, expected_headers, has_body=True)
    assert b"".join(e.data for e in events[1:]) == body
    # Every piece of the body with body_finished False, then the end on its own.
    assert [e.body_finished for e in events[1:]] == [False] * (len(events) - 2) + [True]
    assert events[-1].data == b""
    assert all(type(e) is RejectData for e in events[1:])
    assert client.state is ConnectionState.CLOSED


@given(statuses, extra_headers, cut_lists)
def test_rejection_without_body_parses_back_in_any_chunking(status, extra, cuts):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    wire = server.send(RejectConnection(status_code=status, headers=extra))
    events = feed(client, wire, cuts)
    expected_headers = [(name.lower(), value) for name, value in extra]
    if status != 204:  # RFC 9110 §8.6: a 204 has no Content-Length
        expected_headers += [(b"content-length", b"0")]
    assert events == [
        RejectConnection(status, expected_headers, has_body=True),
        RejectData(b"", body_finished=True),
    ]


REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@given(st.binary(max_size=400), st.integers(0, len(REQUEST)), cut_lists)
def test_any_bytes_to_server_give_request_or_handshake_error(junk, at, cuts):
    # Junk spliced into a real request: mostly malformed, sometimes still valid.
    data = REQUEST[:at] + junk + REQUEST[at:]
    server = H11Handshake(SERVER, max_handshake_size=256)
    try:
        events = feed(server, data, cuts)
        server.receive_data(None)
    except HandshakeError as exc:
        assert exc.status_code in (400, 405, 426, 431)
        assert server.state is ConnectionState.CONNECTING
        assert server.send(exc.event_hint).startswith(b"HTTP/1.1 %d " % exc.status_code)
        return
    assert all(type(e) is Request for e in events)
    assert len(events) <= 1


@given(st.binary(max_size=400), cut_lists)
def test_any_bytes_to_client_give_events_or_remote_error(data, cuts):
    client = H11Handshake(CLIENT, max_handshake_size=256, max_reject_body_size=64)
    client.send(Request(host="h", target="/"))
    try:
        events = feed(client, b"HTTP/1.1 " + data, cuts)
        client.receive_data(None)
        events += list(client.events())
    except RemoteProtocolError:
        assert client.state is ConnectionState.CLOSED
        return
    assert client.state is ConnectionState.CLOSED
    assert type(events[0]) is RejectConnection
    assert sum(len(e.data) for e in events[1:]) <= 64


def test_reject_with_http_status_member_sends_its_number():
    server = H11Handshake(SERVER)
    server.receive_data(H11Handshake(CLIENT).send(Request(host="h", target="/")))
    data = server.send(RejectConnection(status_code=http.HTTPStatus.FORBIDDEN))
    assert data.startswith(b"HTTP/1.1 403 \r\n")


# -- IDNA hosts (as wsproto: CPython's idna codec) ----------------------------------------


@pytest.mark.parametrize(
    ("host", "wire"),
    [
        ("芝士汉堡", b"xn--7ks3rz39bh7u"),
        ("芝士汉堡:8080", b"xn--7ks3rz39bh7u:8080"),
        ("bücher.example", b"xn--bcher-kva.example"),
        ("LocalHost:80", b"LocalHost:80"),  # ASCII goes out as given
        ("[::1]:8080", b"[::1]:8080"),
    ],
)
def test_host_goes_out_idna_encoded_and_comes_back_decoded(host, wire):
    client = H11Handshake(CLIENT)
    server = H11Handshake(SERVER)
    data = client.send(Request(host=host, target="/"))
    assert b"\r\nHost: " + wire + b"\r\n" in data
    server.receive_data(data)
    (request,) = list(server.events())
    assert request.host == host


def test_host_that_is_not_valid_idna_is_refused_with_400():
    server = H11Handshake(SERVER)
    data = REQUEST.replace(b"Host: h", b"Host: xn--zz")
    with pytest.raises(HandshakeError) as info:
        server.receive_data(data)
    assert info.value.status_code == 400
    assert "IDNA" in str(info.value)


@pytest.mark.parametrize("host", ["two words", "tab\there", "a" * 64 + "\u00e9.example", ""])
def test_host_with_no_valid_form_fails_local_error(host):
    client = H11Handshake(CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(Request(host=host, target="/"))
    assert client.state is ConnectionState.CONNECTING
