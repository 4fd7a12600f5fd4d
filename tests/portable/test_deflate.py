"""permessage-deflate where zlib can and cannot do it: declined cleanly, or agreed.

Runs under pytest and on MicroPython: bare asserts, no pytest import. MicroPython's zlib
(WebAssembly build) has no compressobj/decompressobj, so PerMessageDeflate offers and
accepts nothing there and a handshake with an offer opens without it; on CPython the
same handshake agrees on it and a compressed frame (RFC 7692 §7.2.3.1) decodes.
"""

import sys

from _helpers import fixed_key, masked

from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.events import AcceptConnection, Request, TextMessage
from wsproto_lite.extensions import PerMessageDeflate
from wsproto_lite.handshake import H11Handshake

try:
    import zlib

    USABLE = hasattr(zlib, "compressobj") and hasattr(zlib, "decompressobj")
except ImportError:
    USABLE = False

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)
# The accept value for the key bytes 0..15 (computed with CPython's hashlib and base64).
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: Bz3qJYTGdOe8gUSpLosEdiLKDrk=\r\n"
)
HELLO = b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"  # RFC 7692 §7.2.3.1: "Hello", compressed


def key_then_masks(n):
    return bytes(range(16)) if n == 16 else fixed_key(n)


def test_micropython_zlib_has_no_streaming_objects():
    # The premise of the declined path, so the MicroPython run is known to take it.
    if sys.implementation.name == "micropython":
        assert not USABLE
    else:
        assert USABLE


def test_offer_only_where_zlib_is_usable():
    offer = PerMessageDeflate().offer()
    if USABLE:
        assert offer == "client_max_window_bits", offer
    else:
        assert offer is False, offer


def test_accept_only_where_zlib_is_usable():
    ext = PerMessageDeflate()
    answer = ext.accept("permessage-deflate; client_max_window_bits")
    if USABLE:
        assert answer == "client_max_window_bits=15", answer
        assert ext.enabled()
    else:
        assert answer is None, answer
        assert not ext.enabled()


def test_server_handshake_with_offer_agrees_only_where_zlib_is_usable():
    server = H11Handshake(SERVER)
    server.receive_data(REQUEST)
    events = list(server.events())
    assert len(events) == 1 and isinstance(events[0], Request)
    assert events[0].extensions == ["permessage-deflate; client_max_window_bits"]
    ext = PerMessageDeflate()
    response = server.send(AcceptConnection(extensions=[ext]))
    assert response[:13] == b"HTTP/1.1 101 "
    assert server.state is ConnectionState.OPEN
    connection = server.connection
    if USABLE:
        assert b"\r\nSec-WebSocket-Extensions: permessage-deflate" in response
        assert connection.extensions == [ext]
        connection.receive_data(masked(HELLO))
        assert list(connection.events()) == [TextMessage("Hello")]
    else:
        assert b"Sec-WebSocket-Extensions" not in response, response
        assert connection.extensions == []
        assert not ext.enabled()


def test_client_handshake_offers_only_where_zlib_is_usable():
    client = H11Handshake(CLIENT, random_bytes=key_then_masks)
    ext = PerMessageDeflate()
    request = client.send(Request(host="server.example.com", target="/chat", extensions=[ext]))
    offered = b"\r\nSec-WebSocket-Extensions: permessage-deflate" in request
    assert offered is USABLE, request
    if USABLE:
        answer = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        client.receive_data(RESPONSE + answer + b"\r\n")
    else:
        client.receive_data(RESPONSE + b"\r\n")
    events = list(client.events())
    assert len(events) == 1 and isinstance(events[0], AcceptConnection), events
    assert client.state is ConnectionState.OPEN
    if USABLE:
        assert client.connection.extensions == [ext]
        client.connection.receive_data(HELLO)
        assert list(client.connection.events()) == [TextMessage("Hello")]
    else:
        assert client.connection.extensions == []
        assert not ext.enabled()
