"""Fuzz finding (wsconnection): send() raised UnicodeEncodeError, not LocalProtocolError,
for a str the application gave that holds a lone surrogate (it cannot be UTF-8).

Every place that encodes an application str is affected: a text message, a close
reason, and the handshake's host, target and subprotocols. wsproto raises
UnicodeEncodeError here too; STYLE.md §5 says bad application input is a
LocalProtocolError with the state unchanged.
"""

from wsproto_lite import ConnectionType, WSConnection
from wsproto_lite.connection import Connection, ConnectionState
from wsproto_lite.errors import LocalProtocolError
from wsproto_lite.events import CloseConnection, Request, TextMessage

SURROGATE = "caf\udce9"  # what b"caf\xe9".decode("utf-8", "surrogateescape") gives


def refused(send, event):
    try:
        send(event)
    except LocalProtocolError:
        return True
    return False


def test_text_message_with_a_lone_surrogate_is_a_local_protocol_error():
    conn = Connection(ConnectionType.SERVER)
    assert refused(conn.send, TextMessage(SURROGATE))
    assert conn.state is ConnectionState.OPEN


def test_close_reason_with_a_lone_surrogate_is_a_local_protocol_error():
    conn = Connection(ConnectionType.SERVER)
    assert refused(conn.send, CloseConnection(1000, SURROGATE))
    assert conn.state is ConnectionState.OPEN


def test_request_host_with_a_lone_surrogate_is_a_local_protocol_error():
    ws = WSConnection(ConnectionType.CLIENT)
    assert refused(ws.send, Request(host=SURROGATE, target="/"))
    assert ws.state is ConnectionState.CONNECTING
