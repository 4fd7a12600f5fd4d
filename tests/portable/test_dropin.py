"""wsproto's names and behaviours that its consumers rely on (issue 12), on both VMs.

The consumers stage (tests/consumers/run.py) runs the real suites of uvicorn, hypercorn,
simple-websocket, trio-websocket and wsproto itself; these tests pin each behaviour that
stage found, so a regression shows here first, without the network.
"""

import sys

from _helpers import raises

import wsproto_lite
from wsproto_lite import ConnectionType, WSConnection
from wsproto_lite.connection import CLIENT, SERVER, Connection, ConnectionState
from wsproto_lite.errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto_lite.frames import CloseReason
from wsproto_lite.handshake import H11Handshake
from wsproto_lite.utilities import normed_header_dict, split_comma_header

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def request_without(*names, add=b""):
    lines = REQUEST.split(b"\r\n")
    kept = [line for line in lines if line.split(b":")[0].lower() not in names]
    return b"\r\n".join(kept[:-2]) + b"\r\n" + add + b"\r\n"


def refused(data):
    server = H11Handshake(SERVER)
    return raises(HandshakeError, server.receive_data, data)


# -- names ------------------------------------------------------------------------------


def test_connection_module_has_wsprotos_role_aliases():
    assert CLIENT is ConnectionType.CLIENT and SERVER is ConnectionType.SERVER


def test_typing_module_has_headers():
    from wsproto_lite.typing import Headers

    assert Headers is not None


def test_split_comma_header_strips_and_decodes():
    assert split_comma_header(b"chat, superchat,v2") == ["chat", "superchat", "v2"]
    assert split_comma_header(b"one") == ["one"]


def test_normed_header_dict_joins_repeated_names_in_order():
    headers = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert normed_header_dict(headers) == {b"a": b"1, 3", b"b": b"2"}


def wsproto_modules():
    return {name: mod for name, mod in sys.modules.items() if name.split(".")[0] == "wsproto"}


def uninstall(saved):
    """Undo install_as_wsproto(): wsproto's names as they were, our default limit back."""
    for name in wsproto_modules():
        del sys.modules[name]
    sys.modules.update(saved)
    Connection.max_message_size = 1 << 20


def test_install_as_wsproto_maps_every_module():
    saved = wsproto_modules()
    try:
        wsproto_lite.install_as_wsproto()
        import wsproto
        import wsproto.connection
        import wsproto.events
        import wsproto.extensions
        import wsproto.frame_protocol
        import wsproto.handshake
        import wsproto.typing
        import wsproto.utilities

        assert wsproto is wsproto_lite
        assert wsproto.connection.ConnectionType is ConnectionType
        assert wsproto.events.Request is Request
        assert wsproto.handshake.H11Handshake is H11Handshake
        assert wsproto.utilities.LocalProtocolError is LocalProtocolError
        assert wsproto.extensions.PerMessageDeflate.name == "permessage-deflate"
        assert wsproto.frame_protocol.CloseReason is CloseReason
        assert wsproto.WSConnection is WSConnection
        assert sys.modules["wsproto.connection"] is wsproto.connection
    finally:
        uninstall(saved)


def test_install_as_wsproto_gives_wsprotos_unlimited_message_default():
    assert Connection(SERVER).max_message_size == 1 << 20  # ours, until installed
    saved = wsproto_modules()
    try:
        wsproto_lite.install_as_wsproto()
        assert Connection(SERVER).max_message_size is None
        assert Connection(SERVER, max_message_size=1000).max_message_size == 1000
        ws = WSConnection(SERVER)
        ws.receive_data(REQUEST)
        list(ws.events())
        ws.send(AcceptConnection())
        assert ws.connection.max_message_size is None
        wsproto_lite.install_as_wsproto(max_message_size=4096)
        assert Connection(CLIENT).max_message_size == 4096
    finally:
        uninstall(saved)
    assert Connection(SERVER).max_message_size == 1 << 20


# -- closing ----------------------------------------------------------------------------


def test_eof_gives_abnormal_closure_member():
    conn = Connection(CLIENT)
    conn.receive_data(None)
    (event,) = list(conn.events())
    assert event.code == 1006
    if hasattr(CloseReason, "__members__"):  # an enum where enum exists
        assert event.code is CloseReason.ABNORMAL_CLOSURE
    assert conn.state is ConnectionState.CLOSED


def test_bytes_once_closed_raise_local_error_as_in_wsproto():
    for finish in ("eof", "handshake"):
        conn = Connection(SERVER)
        if finish == "eof":
            conn.receive_data(None)
            assert [e.code for e in conn.events()] == [1006]
        else:
            conn.send(CloseConnection(1000))
            conn.receive_data(b"\x88\x82abcd\x62\x8a")  # the client's close (1000, masked)
            assert [type(e) for e in conn.events()] == [CloseConnection]
        assert conn.state is ConnectionState.CLOSED
        exc = raises(LocalProtocolError, conn.receive_data, b"more")
        assert str(exc) == "Connection already closed."
        raises(LocalProtocolError, conn.receive_data, b"")
        conn.receive_data(None)  # EOF again is harmless
        assert list(conn.events()) == []


def test_wsconnection_passes_strict_close_on():
    ws = WSConnection(SERVER, strict_close=True)
    ws.receive_data(REQUEST)
    list(ws.events())
    ws.send(AcceptConnection())
    raises(LocalProtocolError, ws.send, CloseConnection(1006))
    lenient = WSConnection(SERVER)
    lenient.receive_data(REQUEST)
    list(lenient.events())
    lenient.send(AcceptConnection())
    assert lenient.send(CloseConnection(1006)) == b"\x88\x02\x03\xe8"


# -- the handshake ----------------------------------------------------------------------


def test_request_errors_have_wsprotos_messages_and_statuses():
    cases = (
        (b"POST" + REQUEST[3:], "Request method must be GET", 405),
        (request_without(b"connection"), "Missing header, 'Connection: Upgrade'", 400),
        (request_without(b"sec-websocket-version"), "Missing header, 'Sec-WebSocket-Version'", 400),
        (
            request_without(b"sec-websocket-version", add=b"Sec-WebSocket-Version: 12\r\n"),
            "Missing header, 'Sec-WebSocket-Version'",
            426,
        ),
        (request_without(b"sec-websocket-key"), "Missing header, 'Sec-WebSocket-Key'", 400),
        (request_without(b"upgrade"), "Missing header, 'Upgrade: websocket'", 400),
        (request_without(b"host"), "Missing header, 'Host'", 400),
        (b"GET / HTTP/1.1 junk\r\n\r\n", "Bad HTTP message", 400),
        (REQUEST[:-2] + b"no colon here\r\n\r\n", "Bad HTTP message", 400),
    )
    for data, message, status in cases:
        exc = refused(data)
        assert str(exc) == message, (data, str(exc))
        assert exc.status_code == status and exc.event_hint.status_code == status


def test_request_errors_are_found_in_wsprotos_order():
    # Connection first, then the version, the key, Upgrade and Host last.
    everything = (b"connection", b"sec-websocket-version", b"sec-websocket-key", b"upgrade")
    exc = refused(request_without(b"host", *everything))
    assert str(exc) == "Missing header, 'Connection: Upgrade'"
    exc = refused(request_without(b"host", b"upgrade", b"sec-websocket-key"))
    assert str(exc) == "Missing header, 'Sec-WebSocket-Key'"
    exc = refused(request_without(b"host", b"upgrade"))
    assert str(exc) == "Missing header, 'Upgrade: websocket'"


def test_handshake_error_detail_says_exactly_what_was_wrong():
    exc = refused(REQUEST[:-2] + b" folded\r\n\r\n")
    assert str(exc) == "Bad HTTP message" and exc.detail == "obsolete line folding"
    exc = refused(request_without(b"host"))
    assert exc.detail == str(exc)


def test_client_errors_have_wsprotos_messages():
    def answer(response):
        client = H11Handshake(CLIENT)
        client.send(Request(host="h", target="/"))
        return raises(RemoteProtocolError, client.receive_data, response)

    upgrade = b"Upgrade: websocket\r\n"
    connection = b"Connection: Upgrade\r\n"
    exc = answer(b"HTTP/1.1 101 Switching Protocols\r\n" + upgrade + b"\r\n")
    assert str(exc) == "Missing header, 'Connection: Upgrade'"
    exc = answer(b"HTTP/1.1 101 Switching Protocols\r\n" + connection + b"\r\n")
    assert str(exc) == "Missing header, 'Upgrade: websocket'"
    exc = answer(b"HTTP/1.1 101 Switching Protocols\r\n" + upgrade + connection + b"\r\n")
    assert str(exc) == "Bad accept token"
    exc = answer(b"broken nonsense\r\n\r\n")
    assert str(exc) == "Bad HTTP message"
    assert isinstance(exc.event_hint, RejectConnection)


def test_empty_bytes_during_the_handshake_are_eof():
    server = H11Handshake(SERVER)
    server.receive_data(b"")  # connected and left: nothing to answer
    assert server.state is ConnectionState.CLOSED
    client = H11Handshake(CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\n\r\nno")
    client.receive_data(b"")  # ends a body that runs until the connection closes
    assert list(client.events())[1:] == [RejectData(b"no", False), RejectData(b"", True)]
    assert client.state is ConnectionState.CLOSED


def test_handshake_repr_is_wsprotos():
    assert (
        repr(H11Handshake(CLIENT)) == "H11Handshake(client=True, state=ConnectionState.CONNECTING)"
    )
    assert (
        repr(H11Handshake(SERVER)) == "H11Handshake(client=False, state=ConnectionState.CONNECTING)"
    )


def test_server_rejection_has_no_reason_phrase_or_connection_header():
    server = H11Handshake(SERVER)
    server.receive_data(REQUEST)
    list(server.events())
    assert server.send(RejectConnection(status_code=403)) == (
        b"HTTP/1.1 403 \r\ncontent-length: 0\r\n\r\n"
    )


def test_empty_bytes_after_a_complete_request_are_eof_reported_on_accept():
    # Found by the mutator: b"" after the request is EOF (as wsproto), so the accepted
    # connection reports CloseConnection(1006) at once.
    ws = WSConnection(SERVER)
    ws.receive_data(REQUEST)
    ws.receive_data(b"")
    assert [type(e) for e in ws.events()] == [Request]
    ws.send(AcceptConnection())
    assert [e.code for e in ws.events()] == [1006]
    assert ws.state is ConnectionState.CLOSED
