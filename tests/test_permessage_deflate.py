"""permessage-deflate (RFC 7692) through the public API: handshake bytes and frames in, events out.

Negotiation runs on hand-written HTTP heads (server: the offers it answers, RFC 7692 §5 and
§7.1; client: the answers it refuses). Frames are hand-written too; compressed payloads are
the RFC 7692 §7.2.3 examples or come from the standard library's zlib, never from the code
under test. Every frame test runs three ways (whole, one byte at a time, and followed by a
ping that must survive) and asserts the event and the close code.
"""

import random
import tracemalloc
import zlib

import pytest
from _helpers import masked, merge, wire_for  # tests/portable, shared with its tests

from wsproto_lite import WSConnection
from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    RejectConnection,
    Request,
    SizeViolation,
    TextMessage,
    Utf8Violation,
)
from wsproto_lite.extensions import PerMessageDeflate

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
KINDS = [CLIENT, SERVER]
KIND_IDS = ["client", "server"]

KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's masking key; all-zero would hide masking bugs
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1


def random_bytes(n):
    """The handshake key is bytes 0..15; every mask key is KEY."""
    return bytes(range(16)) if n == 16 else KEY[:n]


# Accept values computed with CPython's hashlib and base64, not with the code under test.
CLIENT_ACCEPT = b"Bz3qJYTGdOe8gUSpLosEdiLKDrk="  # for the key bytes 0..15
REQUEST_HEAD = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)
RESPONSE_HEAD = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + CLIENT_ACCEPT + b"\r\n"
)

# RFC 7692 §7.2.3: frames carrying "Hello" (unmasked, server to client).
HELLO_ONE_FRAME = b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"  # §7.2.3.1
HELLO_FRAGMENTS = [b"\x41\x03\xf2\x48\xcd", b"\x80\x04\xc9\xc9\x07\x00"]  # §7.2.3.1
HELLO_AGAIN = b"\xc1\x05\xf2\x00\x11\x00\x00"  # §7.2.3.2: after HELLO_ONE_FRAME, shared window
HELLO_STORED = b"\xc1\x0b\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00"  # §7.2.3.3
HELLO_BFINAL = b"\xc1\x08\xf3\x48\xcd\xc9\xc9\x07\x00\x00"  # §7.2.3.4
HELLO_TWO_BLOCKS = b"\xc1\x0d\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00"  # §7.2.3.5
PING_TAIL = b"\x89\x04tail"  # legal anywhere, even between fragments


# -- helpers: bytes by hand, zlib from the standard library ------------------------------


def frame(opcode, payload, fin=True, rsv1=False, rsv2=False):
    """One unmasked frame, header written out by hand (not wsproto_lite.frames)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 1 << 16:
        head = bytes([b0, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 127]) + n.to_bytes(8, "big")
    return head + payload


def split_frames(wire):
    """Our output, parsed by hand: [(first header byte, unmasked payload)]."""
    out = []
    i = 0
    while i < len(wire):
        b0, b1 = wire[i], wire[i + 1]
        n = b1 & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(wire[i : i + 2], "big")
            i += 2
        elif n == 127:
            n = int.from_bytes(wire[i : i + 8], "big")
            i += 8
        key = b"\0\0\0\0"
        if b1 & 0x80:
            key = wire[i : i + 4]
            i += 4
        payload = bytes(c ^ key[j % 4] for j, c in enumerate(wire[i : i + n]))
        out.append((b0, payload))
        i += n
    assert i == len(wire), "a frame runs past the bytes: %r" % (wire,)
    return out


def deflate(data, bits=15, level=6, strategy=zlib.Z_DEFAULT_STRATEGY):
    """data as one compressed message payload: stdlib zlib, sync flush, tail removed."""
    c = zlib.compressobj(level, zlib.DEFLATED, -bits, 8, strategy)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload, bits=15):
    """One compressed message payload inflated on its own, by stdlib zlib."""
    return zlib.decompressobj(-bits).decompress(payload + TAIL)


def cut(data, pieces):
    """data in `pieces` roughly equal parts (some may be empty when data is short)."""
    step = -(-len(data) // pieces) if data else 0
    return [data[i * step : (i + 1) * step] for i in range(pieces)]


def fragments(opcode, payload, pieces, rsv1=True):
    """A message's payload over `pieces` frames; RSV1 on the first only (RFC 7692 §6.1)."""
    parts = cut(payload, pieces)
    out = [frame(opcode, parts[0], fin=pieces == 1, rsv1=rsv1)]
    for i, part in enumerate(parts[1:], 2):
        out.append(frame(0, part, fin=i == pieces))
    return out


# -- helpers: the handshake ---------------------------------------------------------------


def request_bytes(*offers):
    """REQUEST_HEAD with one Sec-WebSocket-Extensions line per offer value."""
    lines = b"".join(b"Sec-WebSocket-Extensions: " + offer + b"\r\n" for offer in offers)
    return REQUEST_HEAD + lines + b"\r\n"


def response_bytes(*answers):
    lines = b"".join(b"Sec-WebSocket-Extensions: " + answer + b"\r\n" for answer in answers)
    return RESPONSE_HEAD + lines + b"\r\n"


def extensions_header(head):
    """The Sec-WebSocket-Extensions value of an HTTP head we sent; None without one."""
    values = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
        if line.split(b":", 1)[0].lower() == b"sec-websocket-extensions"
    ]
    assert len(values) <= 1, head
    return values[0] if values else None


def server_answer(*offers, ext=None, **kwargs):
    """A server receives a request with these offers and accepts with `ext`.

    Returns (the answer's Sec-WebSocket-Extensions value or None, the server, ext).
    """
    server = WSConnection(SERVER, **kwargs)
    server.receive_data(request_bytes(*offers))
    events = list(server.events())
    assert [type(e) for e in events] == [Request]
    ext = PerMessageDeflate() if ext is None else ext
    response = server.send(AcceptConnection(extensions=[ext]))
    assert response.startswith(b"HTTP/1.1 101 ")
    assert server.state is ConnectionState.OPEN
    return extensions_header(response), server, ext


def assert_agreed(server, ext):
    assert server.connection.extensions == [ext]
    assert ext.enabled()


def assert_declined(server, ext):
    """Opened without the extension: and a frame with RSV1 is then refused (1002)."""
    assert server.connection.extensions == []
    assert not ext.enabled()
    server.receive_data(masked(HELLO_ONE_FRAME))
    (event,) = server.events()
    assert type(event) is ProtocolViolation and event.code == 1002


def client_offering(ext, **kwargs):
    client = WSConnection(CLIENT, random_bytes=random_bytes, **kwargs)
    request = client.send(Request(host="server.example.com", target="/chat", extensions=[ext]))
    return client, request


def client_refuses(ext, *answers):
    """The client offered ext and refuses a 101 carrying these answers: the handshake fails."""
    client, _ = client_offering(ext)
    with pytest.raises(RemoteProtocolError) as info:
        client.receive_data(response_bytes(*answers))
    assert isinstance(info.value.event_hint, RejectConnection)
    assert client.state is ConnectionState.CLOSED
    assert client.connection is None
    assert list(client.events()) == []
    return info.value


def opened(client_cfg=None, server_cfg=None, **kwargs):
    """A client and a server WSConnection after a real handshake, over bytes.

    client_cfg / server_cfg: PerMessageDeflate keyword arguments (None: no extension on
    that side). kwargs go to both WSConnections.
    """
    client = WSConnection(CLIENT, random_bytes=random_bytes, **kwargs)
    server = WSConnection(SERVER, random_bytes=random_bytes, **kwargs)
    offered = [] if client_cfg is None else [PerMessageDeflate(**client_cfg)]
    server.receive_data(client.send(Request(host="h", target="/", extensions=offered)))
    assert [type(e) for e in server.events()] == [Request]
    supported = [] if server_cfg is None else [PerMessageDeflate(**server_cfg)]
    client.receive_data(server.send(AcceptConnection(extensions=supported)))
    (accept,) = client.events()
    assert isinstance(accept, AcceptConnection)
    assert client.state is ConnectionState.OPEN and server.state is ConnectionState.OPEN
    return client, server


def deflate_pair(client_cfg=None, server_cfg=None, **kwargs):
    """opened() with deflate on both sides and agreed: (client, server, client ext, server ext)."""
    client, server = opened(client_cfg or {}, server_cfg or {}, **kwargs)
    (cext,) = client.connection.extensions
    (sext,) = server.connection.extensions
    assert isinstance(cext, PerMessageDeflate) and cext.enabled()
    assert isinstance(sext, PerMessageDeflate) and sext.enabled()
    return client, server, cext, sext


def receiver(kind, client_cfg=None, server_cfg=None, **kwargs):
    client, server, _, _ = deflate_pair(client_cfg, server_cfg, **kwargs)
    return client if kind is CLIENT else server


def peer_kind(conn, client):
    return CLIENT if conn is client else SERVER


def same(got, expected):
    """Equal events; a violation needs the same class and code (its reason is prose)."""
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        if isinstance(e, CloseConnection) and type(e) is not CloseConnection:
            if type(g) is not type(e) or g.code != e.code:
                return False
        elif g != e:
            return False
    return True


RANK = {
    ConnectionState.OPEN: 0,
    ConnectionState.LOCAL_CLOSING: 1,
    ConnectionState.REMOTE_CLOSING: 1,
    ConnectionState.CLOSED: 2,
}


def feed(conn, chunks, states=None):
    """Feed each chunk; return every event. Checks the state never goes backward."""
    got = []
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            got.append(event)
            if states is not None:
                states.append(conn.state)
    if states is not None:
        ranks = [RANK[s] for s in states]
        assert ranks == sorted(ranks), "state went backward: %r" % (states,)
    return got


def receive3(kind, frames, expected, client_cfg=None, server_cfg=None, **kwargs):
    """Feed hand-written frames to a `kind` end three ways; each must give `expected`.

    Ways: all at once; one byte at a time; all at once and then a ping split over two
    feeds (delivered unless a close or violation came first, then never parsed).
    Returns the first way's receiver.
    """
    wire = wire_for(kind, frames)
    trailer = wire_for(kind, [PING_TAIL])

    whole = receiver(kind, client_cfg, server_cfg, **kwargs)
    got = merge(feed(whole, [wire], []))
    assert same(got, expected), "whole: got %r, expected %r" % (got, expected)

    slow = receiver(kind, client_cfg, server_cfg, **kwargs)
    got = merge(feed(slow, [wire[i : i + 1] for i in range(len(wire))], []))
    assert same(got, expected), "byte by byte: got %r, expected %r" % (got, expected)
    assert slow.state is whole.state

    tail = receiver(kind, client_cfg, server_cfg, **kwargs)
    got = merge(feed(tail, [wire + trailer[:3], trailer[3:]], []))
    closed = any(isinstance(e, CloseConnection) for e in expected)
    want = expected if closed else [*expected, Ping(b"tail")]
    assert same(got, want), "with trailing ping: got %r, expected %r" % (got, want)
    assert tail.state is whole.state
    return whole


def close_code_sent(kind, data):
    """The close code of the one close frame a `kind` end put in data (its own frames)."""
    ((b0, payload),) = split_frames(data)
    assert b0 == 0x88, data
    if kind is CLIENT:
        assert data[1] & 0x80, "a client's close frame must be masked"
    return int.from_bytes(payload[:2], "big")


# -- negotiation, server side (accept) ----------------------------------------------------


def test_plain_offer_accepted_without_parameters():
    answer, server, ext = server_answer(b"permessage-deflate")
    assert answer == b"permessage-deflate"
    assert_agreed(server, ext)
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (15, 15)
    assert not ext.server_no_context_takeover and not ext.client_no_context_takeover


def test_quoted_server_max_window_bits_accepted_unquoted():
    answer, server, ext = server_answer(b'permessage-deflate; server_max_window_bits="10"')
    assert answer == b"permessage-deflate; server_max_window_bits=10"
    assert_agreed(server, ext)
    assert ext.server_max_window_bits == 10


def test_quoted_client_max_window_bits_accepted_unquoted():
    answer, server, ext = server_answer(b'permessage-deflate; client_max_window_bits="12"')
    assert answer == b"permessage-deflate; client_max_window_bits=12"
    assert_agreed(server, ext)
    assert ext.client_max_window_bits == 12


def test_bare_client_max_window_bits_answered_with_a_value_or_not_at_all():
    # §7.1.2.2: a bare offer lets the server limit the client's window; the response
    # must then carry a value (a bare one is invalid there), or leave the parameter out.
    answer, server, ext = server_answer(b"permessage-deflate; client_max_window_bits")
    assert answer in (
        b"permessage-deflate",
        b"permessage-deflate; client_max_window_bits=15",
    )
    assert_agreed(server, ext)
    assert ext.client_max_window_bits == 15


def test_offer_parameters_with_spaces_and_any_order_accepted():
    answer, server, ext = server_answer(
        b"permessage-deflate ;server_no_context_takeover ;  client_max_window_bits = 9"
    )
    assert answer == (b"permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
    assert_agreed(server, ext)
    assert ext.server_no_context_takeover
    assert ext.client_max_window_bits == 9


def test_several_offers_in_one_header_first_acceptable_wins():
    answer, server, ext = server_answer(
        b"permessage-deflate; server_max_window_bits=10, permessage-deflate"
    )
    assert answer == b"permessage-deflate; server_max_window_bits=10"
    assert_agreed(server, ext)
    assert ext.server_max_window_bits == 10


def test_offers_across_repeated_headers_first_acceptable_wins():
    answer, server, ext = server_answer(
        b"permessage-deflate; server_max_window_bits=11",
        b"permessage-deflate; server_max_window_bits=9",
    )
    assert answer == b"permessage-deflate; server_max_window_bits=11"
    assert_agreed(server, ext)
    assert ext.server_max_window_bits == 11


def test_declined_offer_then_next_offer_in_header_accepted():
    answer, server, ext = server_answer(
        b"permessage-deflate; x-unknown, permessage-deflate; server_no_context_takeover"
    )
    assert answer == b"permessage-deflate; server_no_context_takeover"
    assert_agreed(server, ext)
    assert ext.server_no_context_takeover


def test_declined_offer_then_next_offer_in_repeated_header_accepted():
    answer, server, ext = server_answer(
        b"permessage-deflate; server_max_window_bits=16",
        b"permessage-deflate; client_max_window_bits=10",
    )
    assert answer == b"permessage-deflate; client_max_window_bits=10"
    assert_agreed(server, ext)
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (15, 10)


def test_unknown_extension_before_deflate_offer_skipped():
    answer, server, ext = server_answer(b"x-webkit-deflate-frame, permessage-deflate")
    assert answer == b"permessage-deflate"
    assert_agreed(server, ext)


BAD_OFFERS = [
    (b"permessage-deflate; x-unknown", "unknown_parameter"),
    (b"permessage-deflate; x-unknown=1", "unknown_parameter_with_value"),
    (
        b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "duplicate_server_no_context_takeover",
    ),
    (
        b"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "duplicate_client_no_context_takeover",
    ),
    (
        b"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "duplicate_server_max_window_bits",
    ),
    (
        b"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "duplicate_client_max_window_bits",
    ),
    (b"permessage-deflate; server_no_context_takeover=1", "value_on_server_no_context_takeover"),
    (
        b'permessage-deflate; client_no_context_takeover="x"',
        "value_on_client_no_context_takeover",
    ),
    (b"permessage-deflate; server_max_window_bits=7", "server_bits_7"),
    (b"permessage-deflate; server_max_window_bits=16", "server_bits_16"),
    (b"permessage-deflate; server_max_window_bits=08", "server_bits_08"),
    (b'permessage-deflate; server_max_window_bits="08"', "server_bits_quoted_08"),
    (b"permessage-deflate; server_max_window_bits=abc", "server_bits_abc"),
    (b"permessage-deflate; server_max_window_bits", "server_bits_missing_value"),
    (b"permessage-deflate; server_max_window_bits=", "server_bits_empty_value"),
    (b'permessage-deflate; server_max_window_bits=""', "server_bits_empty_quoted"),
    (b"permessage-deflate; server_max_window_bits=+9", "server_bits_plus_sign"),
    (b"permessage-deflate; client_max_window_bits=7", "client_bits_7"),
    (b"permessage-deflate; client_max_window_bits=16", "client_bits_16"),
    (b"permessage-deflate; client_max_window_bits=08", "client_bits_08"),
    (b"permessage-deflate; client_max_window_bits=abc", "client_bits_abc"),
    (b"permessage-deflate; client_max_window_bits=", "client_bits_empty_value"),
]


@pytest.mark.parametrize(("offer", "why"), BAD_OFFERS, ids=[why for _, why in BAD_OFFERS])
def test_malformed_offer_declined_and_connection_opens_without_deflate(offer, why):
    answer, server, ext = server_answer(offer)
    assert answer is None, why
    assert_declined(server, ext)


@pytest.mark.parametrize(("offer", "why"), BAD_OFFERS, ids=[why for _, why in BAD_OFFERS])
def test_malformed_offer_declined_and_next_valid_offer_accepted(offer, why):
    answer, server, ext = server_answer(offer + b", permessage-deflate; client_max_window_bits=9")
    assert answer == b"permessage-deflate; client_max_window_bits=9", why
    assert_agreed(server, ext)
    assert ext.client_max_window_bits == 9


def test_server_max_window_bits_configured_sent_without_being_offered():
    # §7.1.2.1: a server may limit its own window unasked.
    answer, server, ext = server_answer(
        b"permessage-deflate", ext=PerMessageDeflate(server_max_window_bits=10)
    )
    assert answer == b"permessage-deflate; server_max_window_bits=10"
    assert_agreed(server, ext)
    assert ext.server_max_window_bits == 10


@pytest.mark.parametrize(
    ("configured", "offered", "agreed"), [(10, 12, 10), (10, 9, 9), (10, 10, 10), (None, 8, 8)]
)
def test_server_max_window_bits_answered_at_most_what_client_asked(configured, offered, agreed):
    # §7.1.2.1: accepted with "the same or smaller value as the offer".
    answer, server, ext = server_answer(
        b"permessage-deflate; server_max_window_bits=%d" % offered,
        ext=PerMessageDeflate(server_max_window_bits=configured),
    )
    assert answer == b"permessage-deflate; server_max_window_bits=%d" % agreed
    assert_agreed(server, ext)
    assert ext.server_max_window_bits == agreed


def test_client_max_window_bits_configured_not_sent_when_not_offered():
    # §7.1.2.2: no client_max_window_bits in the offer, none in the response.
    answer, server, ext = server_answer(
        b"permessage-deflate", ext=PerMessageDeflate(client_max_window_bits=10)
    )
    assert answer is None or b"client_max_window_bits" not in answer
    if answer is not None:
        assert_agreed(server, ext)
        assert ext.client_max_window_bits == 15


@pytest.mark.parametrize(
    ("offer", "agreed"),
    [
        (b"permessage-deflate; client_max_window_bits", 10),
        (b"permessage-deflate; client_max_window_bits=12", 10),
        (b"permessage-deflate; client_max_window_bits=9", 9),
    ],
    ids=["bare", "above", "below"],
)
def test_client_max_window_bits_configured_sent_when_offered(offer, agreed):
    answer, server, ext = server_answer(offer, ext=PerMessageDeflate(client_max_window_bits=10))
    assert answer == b"permessage-deflate; client_max_window_bits=%d" % agreed
    assert_agreed(server, ext)
    assert ext.client_max_window_bits == agreed


def test_server_no_context_takeover_configured_sent_without_being_offered():
    answer, server, ext = server_answer(
        b"permessage-deflate", ext=PerMessageDeflate(server_no_context_takeover=True)
    )
    assert answer == b"permessage-deflate; server_no_context_takeover"
    assert_agreed(server, ext)
    assert ext.server_no_context_takeover


def test_client_no_context_takeover_configured_sent_without_being_offered():
    answer, server, ext = server_answer(
        b"permessage-deflate", ext=PerMessageDeflate(client_no_context_takeover=True)
    )
    assert answer == b"permessage-deflate; client_no_context_takeover"
    assert_agreed(server, ext)
    assert ext.client_no_context_takeover


def test_server_no_context_takeover_offered_always_answered():
    # §7.1.1.1: accepting an offer with server_no_context_takeover means answering it.
    answer, server, ext = server_answer(b"permessage-deflate; server_no_context_takeover")
    assert answer == b"permessage-deflate; server_no_context_takeover"
    assert_agreed(server, ext)
    assert ext.server_no_context_takeover


def test_server_answer_is_accepted_by_our_client():
    # Whatever the server answers to our own client's offer, that client agrees to it.
    for server_cfg in (
        {},
        {"server_max_window_bits": 9},
        {"client_max_window_bits": 11},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
    ):
        _, _, cext, sext = deflate_pair(
            {"server_max_window_bits": 12, "client_max_window_bits": 13}, server_cfg
        )
        assert cext.server_max_window_bits == sext.server_max_window_bits
        assert cext.client_max_window_bits == sext.client_max_window_bits
        assert cext.server_no_context_takeover == sext.server_no_context_takeover
        assert cext.client_no_context_takeover == sext.client_no_context_takeover


# -- negotiation, client side (finalize) --------------------------------------------------


def test_default_client_offer_is_bare_client_max_window_bits():
    _, request = client_offering(PerMessageDeflate())
    assert extensions_header(request) == b"permessage-deflate; client_max_window_bits"


def test_client_offer_carries_configured_parameters():
    ext = PerMessageDeflate(
        client_no_context_takeover=True,
        client_max_window_bits=10,
        server_no_context_takeover=True,
        server_max_window_bits=12,
    )
    _, request = client_offering(ext)
    value = extensions_header(request)
    assert value.split(b";")[0] == b"permessage-deflate"
    assert sorted(p.strip() for p in value.split(b";")[1:]) == [
        b"client_max_window_bits=10",
        b"client_no_context_takeover",
        b"server_max_window_bits=12",
        b"server_no_context_takeover",
    ]


def test_plain_answer_agreed_by_client():
    client, _ = client_offering(PerMessageDeflate())
    ext = client.handshake._request.extensions[0]
    client.receive_data(response_bytes(b"permessage-deflate"))
    assert list(client.events()) == [AcceptConnection(extensions=[ext])]
    assert client.connection.extensions == [ext]
    assert ext.enabled()


def test_answer_with_every_parameter_agreed_by_client():
    ext = PerMessageDeflate(server_max_window_bits=12, server_no_context_takeover=True)
    client, _ = client_offering(ext)
    client.receive_data(
        response_bytes(
            b"permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            b' server_max_window_bits="10"; client_max_window_bits=9'
        )
    )
    assert list(client.events()) == [AcceptConnection(extensions=[ext])]
    assert ext.enabled()
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (10, 9)
    assert ext.server_no_context_takeover and ext.client_no_context_takeover


def test_unrequested_server_max_window_bits_answer_agreed_by_client():
    # §7.1.2.1: the server may limit its own window without being asked.
    ext = PerMessageDeflate()
    client, _ = client_offering(ext)
    client.receive_data(response_bytes(b"permessage-deflate; server_max_window_bits=9"))
    assert list(client.events()) == [AcceptConnection(extensions=[ext])]
    assert ext.server_max_window_bits == 9


def test_unrequested_server_no_context_takeover_answer_agreed_by_client():
    ext = PerMessageDeflate()
    client, _ = client_offering(ext)
    client.receive_data(response_bytes(b"permessage-deflate; server_no_context_takeover"))
    assert list(client.events()) == [AcceptConnection(extensions=[ext])]
    assert ext.server_no_context_takeover


def test_no_answer_opens_client_without_deflate():
    ext = PerMessageDeflate()
    client, _ = client_offering(ext)
    client.receive_data(response_bytes())
    assert list(client.events()) == [AcceptConnection(extensions=[])]
    assert client.connection.extensions == []
    assert not ext.enabled()
    client.receive_data(HELLO_ONE_FRAME)
    (event,) = client.events()
    assert type(event) is ProtocolViolation and event.code == 1002


BAD_ANSWERS = [
    (b"permessage-deflate; x-unknown", "unknown_parameter"),
    (b"permessage-deflate; x-unknown=1", "unknown_parameter_with_value"),
    (
        b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "duplicate_server_no_context_takeover",
    ),
    (
        b"permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
        "duplicate_client_max_window_bits",
    ),
    (b"permessage-deflate; client_no_context_takeover=1", "value_on_no_context_takeover"),
    (b"permessage-deflate; server_max_window_bits=7", "server_bits_7"),
    (b"permessage-deflate; server_max_window_bits=16", "server_bits_16"),
    (b"permessage-deflate; server_max_window_bits=08", "server_bits_08"),
    (b"permessage-deflate; server_max_window_bits=abc", "server_bits_abc"),
    (b"permessage-deflate; server_max_window_bits", "server_bits_missing_value"),
    (b"permessage-deflate; client_max_window_bits=7", "client_bits_7"),
    (b"permessage-deflate; client_max_window_bits=16", "client_bits_16"),
    (b"permessage-deflate; client_max_window_bits", "client_bits_missing_value"),
    (b"permessage-deflate, permessage-deflate", "deflate_accepted_twice"),
    ((b"permessage-deflate", b"permessage-deflate"), "twice_across_headers"),
    (b"x-unoffered", "unoffered_extension"),
    (b"permessage-deflate, x-unoffered", "unoffered_extension_after_deflate"),
]


@pytest.mark.parametrize(("answer", "why"), BAD_ANSWERS, ids=[why for _, why in BAD_ANSWERS])
def test_malformed_answer_fails_client_handshake(answer, why):
    answers = answer if isinstance(answer, tuple) else (answer,)
    client_refuses(PerMessageDeflate(), *answers)


def test_client_max_window_bits_above_offered_fails_client_handshake():
    client_refuses(
        PerMessageDeflate(client_max_window_bits=10),
        b"permessage-deflate; client_max_window_bits=11",
    )


def test_client_max_window_bits_at_or_below_offered_agreed_by_client():
    for bits in (10, 8):
        ext = PerMessageDeflate(client_max_window_bits=10)
        client, _ = client_offering(ext)
        client.receive_data(response_bytes(b"permessage-deflate; client_max_window_bits=%d" % bits))
        assert list(client.events()) == [AcceptConnection(extensions=[ext])]
        assert ext.client_max_window_bits == bits


def test_server_max_window_bits_missing_after_request_fails_client_handshake():
    # §7.1.2.1: a server that accepts an offer with server_max_window_bits answers with it.
    client_refuses(PerMessageDeflate(server_max_window_bits=10), b"permessage-deflate")


def test_server_max_window_bits_above_request_fails_client_handshake():
    client_refuses(
        PerMessageDeflate(server_max_window_bits=10),
        b"permessage-deflate; server_max_window_bits=11",
    )


def test_server_no_context_takeover_missing_after_request_fails_client_handshake():
    # §7.1.1.1: the server must answer server_no_context_takeover when it was offered.
    client_refuses(
        PerMessageDeflate(server_no_context_takeover=True),
        b"permessage-deflate; client_max_window_bits=15",
    )


def test_answer_when_nothing_offered_fails_client_handshake():
    client = WSConnection(CLIENT, random_bytes=random_bytes)
    client.send(Request(host="server.example.com", target="/chat"))
    with pytest.raises(RemoteProtocolError) as info:
        client.receive_data(response_bytes(b"permessage-deflate"))
    assert isinstance(info.value.event_hint, RejectConnection)
    assert client.state is ConnectionState.CLOSED


# -- frames: RSV1 (RFC 7692 §6.1) ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([HELLO_ONE_FRAME], [TextMessage("Hello")]),
        (HELLO_FRAGMENTS, [TextMessage("Hello")]),
        ([HELLO_ONE_FRAME, HELLO_AGAIN], [TextMessage("Hello"), TextMessage("Hello")]),
        ([HELLO_STORED], [TextMessage("Hello")]),
        ([HELLO_BFINAL], [TextMessage("Hello")]),
        ([HELLO_TWO_BLOCKS], [TextMessage("Hello")]),
    ],
    ids=[
        "7.2.3.1_one_frame",
        "7.2.3.1_fragments",
        "7.2.3.2_shared_window",
        "7.2.3.3_stored_block",
        "7.2.3.4_bfinal_block",
        "7.2.3.5_two_blocks",
    ],
)
def test_rfc7692_example_decodes_to_hello(kind, frames, expected):
    receive3(kind, frames, expected)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_rsv1_on_first_frame_only_delivers_message(kind):
    text = b"permessage-deflate " * 40
    frames = fragments(1, deflate(text), 4)
    receive3(kind, frames, [TextMessage(text.decode())])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_empty_compressed_message_delivered_empty(kind):
    # An empty payload with RSV1 stands for an empty message; so do 00 (§7.2.3.6's
    # empty stored block, tail removed) and zlib's own empty sync flush.
    receive3(kind, [b"\xc1\x00"], [TextMessage("")])
    receive3(kind, [b"\xc2\x01\x00"], [BytesMessage(b"")])
    receive3(kind, [frame(2, deflate(b""), rsv1=True)], [BytesMessage(b"")])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_rsv1_on_continuation_fails_1002(kind):
    frames = [b"\x41\x03\xf2\x48\xcd", b"\xc0\x04\xc9\xc9\x07\x00"]
    receive3(kind, frames, [ProtocolViolation(1002)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_rsv1_on_continuation_of_uncompressed_message_fails_1002(kind):
    frames = [b"\x01\x03Hel", b"\xc0\x02lo"]
    receive3(kind, frames, [ProtocolViolation(1002)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "control", [b"\xc9\x00", b"\xca\x00", b"\xc8\x02\x03\xe8"], ids=["ping", "pong", "close"]
)
def test_rsv1_on_control_frame_between_fragments_fails_1002(kind, control):
    frames = [HELLO_FRAGMENTS[0], control, HELLO_FRAGMENTS[1]]
    receive3(kind, frames, [ProtocolViolation(1002)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_rsv1_on_lone_ping_fails_1002(kind):
    receive3(kind, [b"\xc9\x00"], [ProtocolViolation(1002)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("first", [0xA1, 0xE1, 0x91], ids=["rsv2", "rsv1_rsv2", "rsv3"])
def test_rsv_bit_deflate_does_not_claim_fails_1002(kind, first):
    receive3(kind, [bytes([first]) + HELLO_ONE_FRAME[1:]], [ProtocolViolation(1002)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("whole_messages", [False, True])
def test_ping_between_compressed_fragments_leaves_message_intact(kind, whole_messages):
    frames = [HELLO_FRAGMENTS[0], b"\x89\x02hi", HELLO_FRAGMENTS[1]]
    receive3(kind, frames, [Ping(b"hi"), TextMessage("Hello")], whole_messages=whole_messages)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_ping_between_fragments_does_not_reset_shared_window(kind):
    # The second message refers back into the first (§7.2.3.2); a ping inside the first
    # must not have touched the inflater.
    frames = [HELLO_FRAGMENTS[0], b"\x89\x00", HELLO_FRAGMENTS[1], HELLO_AGAIN]
    receive3(kind, frames, [Ping(b""), TextMessage("Hello"), TextMessage("Hello")])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_compressed_and_uncompressed_messages_alternate(kind):
    frames = [
        HELLO_ONE_FRAME,
        b"\x81\x02Hi",
        b"\x82\x03\x00\x01\x02",
        HELLO_AGAIN,  # the window holds the compressed messages only
        b"\x01\x02ab",
        b"\x80\x01c",
        frame(2, deflate(b"\xff" * 300), rsv1=True),
    ]
    expected = [
        TextMessage("Hello"),
        TextMessage("Hi"),
        BytesMessage(b"\x00\x01\x02"),
        TextMessage("Hello"),
        TextMessage("abc"),
        BytesMessage(b"\xff" * 300),
    ]
    receive3(kind, frames, expected)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_compressed_frame_after_101_in_same_read_decoded(kind):
    client = WSConnection(CLIENT, random_bytes=random_bytes)
    server = WSConnection(SERVER)
    server.receive_data(
        client.send(Request(host="h", target="/", extensions=[PerMessageDeflate()]))
        + masked(HELLO_ONE_FRAME)  # a client may send before the answer came
    )
    events = list(server.events())
    assert [type(e) for e in events] == [Request]
    client.receive_data(
        server.send(AcceptConnection(extensions=[PerMessageDeflate()])) + HELLO_ONE_FRAME
    )
    assert list(server.events()) == [TextMessage("Hello")]
    events = list(client.events())
    assert [type(e) for e in events] == [AcceptConnection, TextMessage]
    assert events[1] == TextMessage("Hello")


# -- frames: what we send -----------------------------------------------------------------


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_tail_removed_on_send(sender):
    client, server, _, _ = deflate_pair()
    me = client if sender is CLIENT else server
    data = me.send(TextMessage("Hello"))
    # RFC 7692 §7.2.3.1's frame, byte for byte: zlib's sync flush, 00 00 ff ff taken off.
    assert split_frames(data) == [(0xC1, b"\xf2\x48\xcd\xc9\xc9\x07\x00")]
    assert (data[1] & 0x80 != 0) is (sender is CLIENT)


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_control_frames_sent_uncompressed(sender):
    client, server, cext, sext = deflate_pair()
    me = client if sender is CLIENT else server
    assert split_frames(me.send(Ping(b"ping" * 10))) == [(0x89, b"ping" * 10)]
    assert split_frames(me.send(CloseConnection(1000, "bye"))) == [(0x88, b"\x03\xe8bye")]
    assert cext._compressor is None and sext._compressor is None


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_streamed_send_sets_rsv1_on_first_frame_only(sender):
    client, server, _, _ = deflate_pair()
    me, peer = (client, server) if sender is CLIENT else (server, client)
    pieces = ["Hel", "lo, ", "", "world"]
    wire = b""
    for i, piece in enumerate(pieces):
        wire += me.send(Message(data=piece, message_finished=i == len(pieces) - 1))
    frames = split_frames(wire)
    assert [b0 for b0, _ in frames] == [0x41, 0x00, 0x00, 0x80]
    # The whole message's compressed bytes, tail put back once, inflate to the text.
    assert inflate(b"".join(p for _, p in frames)) == b"Hello, world"
    # Each non-final frame is flushed: what came so far inflates without the rest.
    d = zlib.decompressobj(-15)
    assert d.decompress(frames[0][1]) == b"Hel"
    assert not frames[-1][1].endswith(TAIL)
    peer.receive_data(wire)
    assert merge(list(peer.events())) == [TextMessage("Hello, world")]


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_second_identical_message_smaller_with_context_takeover(sender):
    client, server, _, _ = deflate_pair()
    me, peer = (client, server) if sender is CLIENT else (server, client)
    text = b"the quick brown fox jumps over the lazy dog; " * 4
    first, second = (split_frames(me.send(BytesMessage(text)))[0][1] for _ in range(2))
    assert len(second) < len(first)
    d = zlib.decompressobj(-15)  # one inflater across both: the window is shared
    assert d.decompress(first + TAIL) == text
    assert d.decompress(second + TAIL) == text
    # The peer, keeping its inflater between messages, decodes both.
    peer.receive_data(wire_for(peer_kind(peer, client), [frame(2, first, rsv1=True)]))
    peer.receive_data(wire_for(peer_kind(peer, client), [frame(2, second, rsv1=True)]))
    assert list(peer.events()) == [BytesMessage(text), BytesMessage(text)]


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_no_context_takeover_each_message_decodes_alone(sender):
    # The sender's own *_no_context_takeover: it resets its compressor after each message.
    cfg = {"client_no_context_takeover": True, "server_no_context_takeover": True}
    client, server, cext, sext = deflate_pair(cfg, {})
    me, my_ext = (client, cext) if sender is CLIENT else (server, sext)
    text = b"the quick brown fox jumps over the lazy dog; " * 4
    payloads = []
    for _ in range(3):
        payloads.append(split_frames(me.send(BytesMessage(text)))[0][1])
        assert my_ext._compressor is None
    assert payloads[0] == payloads[1] == payloads[2]
    for payload in payloads:
        assert inflate(payload) == text


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_peer_no_context_takeover_resets_decompressor(kind):
    # Each message compressed alone by the peer, as no context takeover demands; the
    # receiver keeps no inflater between messages.
    cfg = {"client_no_context_takeover": True, "server_no_context_takeover": True}
    text = b"the quick brown fox jumps over the lazy dog; " * 4
    frames = [frame(2, deflate(text), rsv1=True)] * 3
    conn = receive3(kind, frames, [BytesMessage(text)] * 3, client_cfg=cfg)
    (ext,) = conn.connection.extensions
    assert ext._decompressor is None


def test_client_no_context_takeover_kept_when_server_does_not_echo_it():
    # §7.1.1.2: offering client_no_context_takeover is a promise, echoed or not.
    ext = PerMessageDeflate(client_no_context_takeover=True)
    client, _ = client_offering(ext)
    client.receive_data(response_bytes(b"permessage-deflate"))
    list(client.events())
    text = b"the quick brown fox jumps over the lazy dog; " * 4
    first = split_frames(client.send(BytesMessage(text)))[0][1]
    second = split_frames(client.send(BytesMessage(text)))[0][1]
    assert first == second
    assert inflate(second) == text


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_eight_bit_window_agreed_and_sent_inflatable_with_eight_bits(sender):
    client, server, cext, sext = deflate_pair(
        {"client_max_window_bits": 8, "server_max_window_bits": 8}, {}
    )
    for ext in (cext, sext):
        assert (ext.client_max_window_bits, ext.server_max_window_bits) == (8, 8)
    me, peer = (client, server) if sender is CLIENT else (server, client)
    rng = random.Random(8)
    # Repeats at distances beyond 256 bytes: a 256-byte window must not see them used.
    block = rng.randbytes(200)
    messages = [block + block + b"x" * 600, rng.randbytes(100) + block, block * 3]
    d = zlib.decompressobj(-8)  # one inflater with an 8-bit window, across messages
    wire = b""
    for data in messages:
        out = me.send(BytesMessage(data))
        wire += out
        ((b0, payload),) = split_frames(out)
        assert b0 == 0xC2
        assert d.decompress(payload + TAIL) == data
    peer.receive_data(wire)
    assert list(peer.events()) == [BytesMessage(m) for m in messages]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_eight_bit_window_agreed_receives_what_zlib_sends_with_nine(kind):
    # zlib refuses a raw 8-bit window and peers built on it compress with 9 after
    # agreeing on 8: that must still inflate.
    cfg = {"client_max_window_bits": 8, "server_max_window_bits": 8}
    rng = random.Random(9)
    block = rng.randbytes(240)
    data = [block + block, block + b"y" * 500]
    c = zlib.compressobj(6, zlib.DEFLATED, -9)
    payloads = [(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in data]
    frames = [frame(2, p, rsv1=True) for p in payloads]
    receive3(kind, frames, [BytesMessage(m) for m in data], client_cfg=cfg)


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("whole_messages", [False, True])
def test_fragmented_compressed_messages_round_trip_both_ways(sender, whole_messages):
    client, server, _, _ = deflate_pair(whole_messages=whole_messages)
    me, peer = (client, server) if sender is CLIENT else (server, client)
    text = "ünïcödé and ascii, " * 50
    data = bytes(range(256)) * 8
    wire = b""
    for message in (text, data):
        pieces = cut(message, 5)
        for i, piece in enumerate(pieces):
            wire += me.send(Message(data=piece, message_finished=i == len(pieces) - 1))
    # Delivered one byte at a time, so every frame arrives in pieces too.
    got = feed(peer, [wire[i : i + 1] for i in range(len(wire))])
    assert merge(got) == [TextMessage(text), BytesMessage(data)]
    if whole_messages:
        assert got == [TextMessage(text), BytesMessage(data)]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_pieces_delivered_inflated_without_whole_messages(kind):
    text = "Hello, permessage-deflate! " * 30
    frames = fragments(1, deflate(text.encode()), 3)
    conn = receiver(kind)
    wire = wire_for(kind, frames)
    events = feed(conn, [wire[i : i + 7] for i in range(0, len(wire), 7)])
    assert len(events) > 3  # pieces, not one message
    assert all(type(e) is TextMessage for e in events)
    assert "".join(e.data for e in events) == text  # inflated text, never compressed bytes
    assert [e.message_finished for e in events] == [False] * (len(events) - 1) + [True]
    assert sum(e.frame_finished for e in events) == 3


# -- limits after inflation ---------------------------------------------------------------

LIMIT = 4096


def over_limit_cases():
    cases = []
    for name, size, ok in (("limit-1", LIMIT - 1, True), ("limit", LIMIT, True)):
        cases.append(pytest.param(size, ok, id=name))
    cases.append(pytest.param(LIMIT + 1, False, id="limit+1"))
    return cases


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("whole_messages", [False, True])
@pytest.mark.parametrize("pieces", [1, 3], ids=["one_frame", "fragments"])
@pytest.mark.parametrize(("size", "ok"), over_limit_cases())
def test_message_limit_holds_on_inflated_size(kind, whole_messages, pieces, size, ok):
    data = b"a" * size
    frames = fragments(2, deflate(data), pieces)
    expected = [BytesMessage(data)] if ok else [SizeViolation(1009)]
    receive3(kind, frames, expected, max_message_size=LIMIT, whole_messages=whole_messages)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_message_limit_holds_on_uncompressed_message_beside_compressed_ones(kind):
    frames = [HELLO_ONE_FRAME, frame(2, b"b" * (LIMIT + 1))]
    receive3(kind, frames, [TextMessage("Hello"), SizeViolation(1009)], max_message_size=LIMIT)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_message_limit_counts_every_fragment_of_uncompressed_message(kind):
    frames = fragments(2, b"c" * (LIMIT + 1), 3, rsv1=False)
    receive3(kind, frames, [SizeViolation(1009)], max_message_size=LIMIT)
    frames = fragments(2, b"c" * LIMIT, 3, rsv1=False)
    receive3(kind, frames, [BytesMessage(b"c" * LIMIT)], max_message_size=LIMIT)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_incompressible_message_at_limit_accepted_despite_larger_wire_size(kind):
    data = random.Random(7).randbytes(LIMIT)
    payload = deflate(data)
    assert len(payload) > LIMIT  # stored blocks: bigger on the wire than inflated
    receive3(kind, [frame(2, payload, rsv1=True)], [BytesMessage(data)], max_message_size=LIMIT)
    data = random.Random(7).randbytes(LIMIT + 1)
    frames = [frame(2, deflate(data), rsv1=True)]
    receive3(kind, frames, [SizeViolation(1009)], max_message_size=LIMIT)


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_incompressible_message_at_limit_sent_by_peer_accepted(sender):
    client, server, _, _ = deflate_pair(max_message_size=LIMIT)
    me, peer = (client, server) if sender is CLIENT else (server, client)
    data = random.Random(11).randbytes(LIMIT)
    peer.receive_data(me.send(BytesMessage(data)))
    assert merge(list(peer.events())) == [BytesMessage(data)]


BOMB_LIMIT = 1 << 20
BOMB = deflate(b"\0" * (64 << 20), level=9)  # about 64 KiB inflating to 64 MiB


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("whole_messages", [False, True])
@pytest.mark.parametrize("pieces", [1, 8], ids=["one_frame", "fragments"])
def test_bomb_fails_1009_without_allocating_past_limit(kind, whole_messages, pieces):
    assert len(BOMB) < BOMB_LIMIT // 8
    conn = receiver(kind, max_message_size=BOMB_LIMIT, whole_messages=whole_messages)
    wire = wire_for(kind, fragments(2, BOMB, pieces))
    tracemalloc.start()
    try:
        conn.receive_data(wire)
        events = list(conn.events())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert type(events[-1]) is SizeViolation and events[-1].code == 1009
    assert sum(len(e.data) for e in events[:-1]) <= BOMB_LIMIT
    assert peak < BOMB_LIMIT + (256 << 10), "peak %d bytes for a %d-byte limit" % (
        peak,
        BOMB_LIMIT,
    )


# -- corrupt streams ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff\xff", b"\x07\x00", b"\x00\x05\x00\x00\x00Hello"],
    ids=["reserved_block_type", "reserved_block_type_short", "stored_length_mismatch"],
)
def test_garbage_compressed_payload_fails_1007(kind, payload):
    receive3(kind, [frame(1, payload, rsv1=True)], [ProtocolViolation(1007)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_garbage_after_good_message_fails_1007(kind):
    frames = [HELLO_ONE_FRAME, frame(2, b"\xff\xfe\xfd", rsv1=True)]
    receive3(kind, frames, [TextMessage("Hello"), ProtocolViolation(1007)])


def truncated_payload():
    payload = deflate(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20)
    cut_payload = payload[:-3]
    # The stdlib inflater, fed the cut payload and the tail, is still inside a block:
    # an empty final block after it does not end the stream.
    d = zlib.decompressobj(-15)
    try:
        d.decompress(cut_payload + TAIL)
        probe = d.copy()
        probe.decompress(b"\x03\x00")
        assert not probe.eof
    except zlib.error:
        pass
    return cut_payload


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("pieces", [1, 3], ids=["one_frame", "fragments"])
def test_truncated_block_at_message_end_fails_1007(kind, pieces):
    receive3(kind, fragments(1, truncated_payload(), pieces), [ProtocolViolation(1007)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_data_after_bfinal_block_within_message_fails_1007(kind):
    final = b"\xf3\x48\xcd\xc9\xc9\x07\x00"  # "Hello" in a final block (§7.2.3.4)
    more = deflate(b"World")
    receive3(kind, [frame(1, final + more, rsv1=True)], [ProtocolViolation(1007)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_data_after_bfinal_block_in_next_fragment_fails_1007(kind):
    final = b"\xf3\x48\xcd\xc9\xc9\x07\x00"
    frames = [frame(1, final, fin=False, rsv1=True), frame(0, deflate(b"World"))]
    receive3(kind, frames, [ProtocolViolation(1007)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_bfinal_message_then_next_message_decoded(kind):
    # A final block ends that message's stream; the next message starts a new one.
    final = b"\xf3\x48\xcd\xc9\xc9\x07\x00"
    frames = [frame(1, final, rsv1=True), frame(1, deflate(b"World"), rsv1=True)]
    receive3(kind, frames, [TextMessage("Hello"), TextMessage("World")])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_inflated_invalid_utf8_text_fails_1007(kind):
    # The deflate stream is fine; the text it carries is not: a UTF-8 violation.
    frames = [frame(1, deflate(b"ok \xc3\x28 bad"), rsv1=True)]
    receive3(kind, frames, [Utf8Violation(1007)])


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([frame(1, b"\xff\xff\xff\xff", rsv1=True)], 1007),
        ([frame(1, truncated_payload(), rsv1=True)], 1007),
        ([b"\x41\x03\xf2\x48\xcd", b"\xc0\x04\xc9\xc9\x07\x00"], 1002),
        ([frame(2, deflate(b"a" * (LIMIT + 1)), rsv1=True)], 1009),
    ],
    ids=["garbage", "truncated", "rsv1_continuation", "over_limit"],
)
def test_after_violation_state_holds_and_nothing_more_parsed(kind, frames, code):
    for auto_reply in (False, True):
        conn = receiver(kind, max_message_size=LIMIT, auto_reply=auto_reply)
        states = []
        events = feed(conn, [wire_for(kind, frames)], states)
        assert isinstance(events[-1], ProtocolViolation) and events[-1].code == code
        state = conn.state
        if auto_reply:
            assert state is ConnectionState.CLOSED
            assert close_code_sent(kind, conn.data_to_send()) == code
        else:
            assert state is ConnectionState.REMOTE_CLOSING
        # Anything after the violation, even a good message, is never parsed.
        more = feed(conn, [wire_for(kind, [HELLO_ONE_FRAME, PING_TAIL])], states)
        assert more == []
        assert list(conn.events()) == []
        assert conn.state is state
        assert conn.data_to_send() == b""


# -- memory: zlib state made when needed ---------------------------------------------------


def test_no_zlib_state_after_handshake():
    _, _, cext, sext = deflate_pair()
    for ext in (cext, sext):
        assert ext._compressor is None and ext._decompressor is None


@pytest.mark.parametrize("sender", KINDS, ids=KIND_IDS)
def test_one_message_makes_only_the_zlib_state_it_needs(sender):
    client, server, cext, sext = deflate_pair()
    me, peer, my_ext, peer_ext = (
        (client, server, cext, sext) if sender is CLIENT else (server, client, sext, cext)
    )
    peer.receive_data(me.send(TextMessage("Hello")))
    assert list(peer.events()) == [TextMessage("Hello")]
    assert my_ext._compressor is not None and my_ext._decompressor is None
    # The receiver made no compressor; it keeps its inflater for the shared window.
    assert peer_ext._compressor is None and peer_ext._decompressor is not None
    me.receive_data(peer.send(TextMessage("Hello")))
    assert list(me.events()) == [TextMessage("Hello")]
    assert my_ext._compressor is not None and peer_ext._compressor is not None


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_uncompressed_and_control_frames_make_no_zlib_state(kind):
    conn = receive3(
        kind,
        [b"\x81\x02Hi", b"\x89\x00", b"\x01\x01a", b"\x8a\x00", b"\x80\x01b"],
        [TextMessage("Hi"), Ping(b""), Pong(b""), TextMessage("ab")],
    )
    (ext,) = conn.connection.extensions
    assert ext._compressor is None and ext._decompressor is None
    conn.send(Ping(b"x"))
    conn.send(CloseConnection(1000))
    assert ext._compressor is None


# -- where zlib cannot do permessage-deflate (MicroPython), forced on CPython ----------------


def test_answer_for_an_extension_that_offered_nothing_fails_the_handshake(monkeypatch):
    # offer() is False without a usable zlib, so nothing went out; a server that answers
    # permessage-deflate anyway gets the handshake failed, not an enabled extension that
    # has no zlib to work with.
    import wsproto_lite.extensions as extensions

    monkeypatch.setattr(extensions, "_zlib_module", False)
    ext = PerMessageDeflate()
    client, request = client_offering(ext)
    assert b"sec-websocket-extensions" not in request.lower()
    with pytest.raises(RemoteProtocolError) as info:
        client.receive_data(response_bytes(b"permessage-deflate"))
    assert isinstance(info.value.event_hint, RejectConnection)
    assert not ext.enabled()


@pytest.mark.parametrize("kind", [CLIENT, SERVER])
def test_binary_message_cut_anywhere_then_text_comes_whole(kind):
    # A compressed binary frame cut at every point: where a piece inflates to nothing (a
    # cut inside a dynamic Huffman block's code tables), the message must still come whole
    # and leave no state behind for the text message after it, itself in pieces. An empty
    # first piece once left an empty bytearray of pieces that the text then tripped over.
    data = bytes(i % 7 for i in range(200)) + bytes(range(256)) * 2
    wire = wire_for(
        kind,
        [frame(2, deflate(data), rsv1=True), frame(1, deflate("après".encode()), rsv1=True)],
    )
    text_cut = len(wire) - 2  # the text message arrives in two pieces too
    for cut in range(1, text_cut):
        conn = receiver(kind, whole_messages=True)
        got = feed(conn, [wire[:cut], wire[cut:text_cut], wire[text_cut:]])
        assert got == [BytesMessage(data), TextMessage("après")], cut
