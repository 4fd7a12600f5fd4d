"""Byte-level handshake interop with wsproto and websockets' sans-IO cores, both roles.

Their client's request goes into our server and our 101 back into their client; our
client's request goes into their server and their 101 back into ours. Rejections with a
body and the first frames after the handshake cross over too.
"""

import pytest
import wsproto
import wsproto.connection
import wsproto.events
import wsproto.extensions
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsproto_lite.connection import ConnectionState, ConnectionType
from wsproto_lite.errors import HandshakeError
from wsproto_lite.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto_lite.extensions import Extension
from wsproto_lite.handshake import H11Handshake

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
W_CLIENT = wsproto.connection.ConnectionType.CLIENT
W_SERVER = wsproto.connection.ConnectionType.SERVER
MASK = b"\x37\xfa\x21\x3d"


def fixed_mask(n):
    return MASK[:n] if n <= 4 else bytes(range(n))


def one_request(server, data):
    server.receive_data(data)
    events = list(server.events())
    assert len(events) == 1 and type(events[0]) is Request
    return events[0]


def drain(protocol):
    return b"".join(protocol.data_to_send())


class FakeDeflate(Extension):
    """Negotiates permessage-deflate on the wire only; never used on frames here."""

    name = "permessage-deflate"

    def __init__(self, offer="client_max_window_bits", answer=""):
        self._offer = offer
        self._answer = answer
        self.finalized = []
        self.accepted = []

    def offer(self):
        return self._offer

    def accept(self, offer):
        self.accepted.append(offer)
        return self._answer

    def finalize(self, offer):
        self.finalized.append(offer)


# -- wsproto client -> our server -------------------------------------------------------


def test_wsproto_client_request_accepted_by_our_server():
    peer = wsproto.WSConnection(W_CLIENT)
    request_bytes = peer.send(
        wsproto.events.Request(
            host="example.com",
            target="/chat?room=1",
            subprotocols=["chat", "superchat"],
            extra_headers=[(b"Origin", b"http://example.com")],
        )
    )
    server = H11Handshake(SERVER)
    request = one_request(server, request_bytes)
    assert (request.host, request.target) == ("example.com", "/chat?room=1")
    assert request.subprotocols == ["chat", "superchat"]
    assert (b"origin", b"http://example.com") in request.extra_headers

    peer.receive_data(server.send(AcceptConnection(subprotocol="superchat")))
    events = list(peer.events())
    assert len(events) == 1
    assert isinstance(events[0], wsproto.events.AcceptConnection)
    assert events[0].subprotocol == "superchat"
    assert peer.state is wsproto.connection.ConnectionState.OPEN

    # Frames cross the new connection both ways.
    server.connection.receive_data(peer.send(wsproto.events.TextMessage("hi from wsproto")))
    assert list(server.connection.events()) == [TextMessage("hi from wsproto")]
    peer.receive_data(server.connection.send(TextMessage("hi from lite")))
    assert [e.data for e in peer.events()] == ["hi from lite"]


def test_wsproto_client_deflate_offer_seen_and_declined():
    peer = wsproto.WSConnection(W_CLIENT)
    deflate = wsproto.extensions.PerMessageDeflate()
    request_bytes = peer.send(
        wsproto.events.Request(host="example.com", target="/", extensions=[deflate])
    )
    server = H11Handshake(SERVER)
    request = one_request(server, request_bytes)
    assert [e.split(";")[0] for e in request.extensions] == ["permessage-deflate"]
    peer.receive_data(server.send(AcceptConnection()))
    events = list(peer.events())
    assert isinstance(events[0], wsproto.events.AcceptConnection)
    assert events[0].extensions == []


def test_wsproto_client_gets_our_rejection_with_body():
    peer = wsproto.WSConnection(W_CLIENT)
    server = H11Handshake(SERVER)
    one_request(server, peer.send(wsproto.events.Request(host="example.com", target="/")))
    body = b"no entry\n"
    wire = server.send(
        RejectConnection(
            status_code=403,
            headers=[(b"Content-Length", b"%d" % len(body)), (b"Content-Type", b"text/plain")],
            has_body=True,
        )
    )
    wire += server.send(RejectData(body))
    peer.receive_data(wire)
    events = list(peer.events())
    assert isinstance(events[0], wsproto.events.RejectConnection)
    assert events[0].status_code == 403
    assert b"".join(e.data for e in events[1:]) == body
    assert events[-1].body_finished
    assert peer.state is wsproto.connection.ConnectionState.CLOSED


def test_wsproto_client_gets_our_rejection_without_body():
    peer = wsproto.WSConnection(W_CLIENT)
    server = H11Handshake(SERVER)
    one_request(server, peer.send(wsproto.events.Request(host="example.com", target="/")))
    peer.receive_data(server.send(RejectConnection(status_code=401)))
    events = list(peer.events())
    assert isinstance(events[0], wsproto.events.RejectConnection)
    assert events[0].status_code == 401
    assert peer.state is wsproto.connection.ConnectionState.CLOSED


# -- our client -> wsproto server -------------------------------------------------------


def test_our_client_request_accepted_by_wsproto_server():
    client = H11Handshake(CLIENT, random_bytes=fixed_mask)
    peer = wsproto.WSConnection(W_SERVER)
    peer.receive_data(
        client.send(
            Request(
                host="example.com",
                target="/chat",
                subprotocols=["chat", "superchat"],
                extra_headers=[(b"Origin", b"http://example.com")],
            )
        )
    )
    events = list(peer.events())
    assert isinstance(events[0], wsproto.events.Request)
    assert events[0].subprotocols == ["chat", "superchat"]
    assert events[0].target == "/chat"

    response = peer.send(wsproto.events.AcceptConnection(subprotocol="chat"))
    # Their first frame arrives in the same read as the 101.
    response += peer.send(wsproto.events.TextMessage("hi from wsproto"))
    client.receive_data(response)
    events = list(client.events())
    assert len(events) == 1 and type(events[0]) is AcceptConnection
    assert events[0].subprotocol == "chat"
    assert client.state is ConnectionState.OPEN
    assert list(client.connection.events()) == [TextMessage("hi from wsproto")]

    peer.receive_data(client.connection.send(TextMessage("hi from lite")))
    assert [e.data for e in peer.events()] == ["hi from lite"]


def test_our_client_deflate_offer_answered_by_wsproto_server():
    extension = FakeDeflate(offer="client_max_window_bits")
    client = H11Handshake(CLIENT)
    peer = wsproto.WSConnection(W_SERVER)
    peer.receive_data(client.send(Request(host="example.com", target="/", extensions=[extension])))
    list(peer.events())
    response = peer.send(
        wsproto.events.AcceptConnection(extensions=[wsproto.extensions.PerMessageDeflate()])
    )
    client.receive_data(response)
    events = list(client.events())
    assert events == [AcceptConnection(extensions=[extension])]
    assert len(extension.finalized) == 1
    assert extension.finalized[0].startswith("permessage-deflate")


def test_our_client_reads_wsproto_server_rejection_body():
    client = H11Handshake(CLIENT)
    peer = wsproto.WSConnection(W_SERVER)
    peer.receive_data(client.send(Request(host="example.com", target="/")))
    list(peer.events())
    # No Content-Length: h11 frames the body with chunked encoding.
    wire = peer.send(wsproto.events.RejectConnection(status_code=404, has_body=True))
    wire += peer.send(wsproto.events.RejectData(b"not ", body_finished=False))
    wire += peer.send(wsproto.events.RejectData(b"here"))
    client.receive_data(wire)
    events = list(client.events())
    assert type(events[0]) is RejectConnection and events[0].status_code == 404
    assert (b"transfer-encoding", b"chunked") in events[0].headers
    assert b"".join(e.data for e in events[1:]) == b"not here"
    assert events[-1].body_finished
    assert client.state is ConnectionState.CLOSED


def test_our_client_reads_wsproto_server_rejection_without_body():
    client = H11Handshake(CLIENT)
    peer = wsproto.WSConnection(W_SERVER)
    peer.receive_data(client.send(Request(host="example.com", target="/")))
    list(peer.events())
    client.receive_data(peer.send(wsproto.events.RejectConnection(status_code=403)))
    events = list(client.events())
    assert type(events[0]) is RejectConnection and events[0].status_code == 403
    assert events[1:] == [RejectData(b"", body_finished=True)]
    assert client.state is ConnectionState.CLOSED


# -- websockets client -> our server ----------------------------------------------------


def test_websockets_client_request_accepted_by_our_server():
    peer = ClientProtocol(
        parse_uri("ws://example.com:8080/chat?x=1"),
        origin="http://example.com",
        subprotocols=["chat", "superchat"],
    )
    peer.send_request(peer.connect())
    server = H11Handshake(SERVER)
    request = one_request(server, drain(peer))
    assert (request.host, request.target) == ("example.com:8080", "/chat?x=1")
    assert request.subprotocols == ["chat", "superchat"]

    response = server.send(AcceptConnection(subprotocol="chat"))
    response += server.connection.send(TextMessage("hi from lite"))
    peer.receive_data(response)
    events = peer.events_received()
    assert isinstance(events[0], Response) and events[0].status_code == 101
    assert peer.handshake_exc is None
    assert peer.state is State.OPEN
    assert peer.subprotocol == "chat"
    assert events[1:] == [Frame(Opcode.TEXT, b"hi from lite")]

    peer.send_text(b"hi from websockets")
    server.connection.receive_data(drain(peer))
    assert list(server.connection.events()) == [TextMessage("hi from websockets")]


def test_websockets_client_accepts_our_deflate_answer():
    peer = ClientProtocol(
        parse_uri("ws://example.com/"), extensions=[ClientPerMessageDeflateFactory()]
    )
    peer.send_request(peer.connect())
    server = H11Handshake(SERVER)
    request = one_request(server, drain(peer))
    assert [e.split(";")[0] for e in request.extensions] == ["permessage-deflate"]
    extension = FakeDeflate(answer="")
    peer.receive_data(server.send(AcceptConnection(extensions=[extension])))
    peer.events_received()
    assert extension.accepted == request.extensions
    assert peer.handshake_exc is None
    assert [e.name for e in peer.extensions] == ["permessage-deflate"]


def test_websockets_client_gets_our_rejection_with_body():
    peer = ClientProtocol(parse_uri("ws://example.com/"))
    peer.send_request(peer.connect())
    server = H11Handshake(SERVER)
    one_request(server, drain(peer))
    wire = server.send(
        RejectConnection(status_code=403, headers=[(b"Content-Length", b"4")], has_body=True)
    )
    wire += server.send(RejectData(b"nope"))
    peer.receive_data(wire)
    events = peer.events_received()
    assert events[0].status_code == 403
    assert events[0].body == b"nope"
    assert peer.handshake_exc is not None  # websockets reports a rejection as InvalidStatus


def test_websockets_client_gets_our_rejection_body_until_close():
    peer = ClientProtocol(parse_uri("ws://example.com/"))
    peer.send_request(peer.connect())
    server = H11Handshake(SERVER)
    one_request(server, drain(peer))
    wire = server.send(RejectConnection(status_code=500, has_body=True))
    wire += server.send(RejectData(b"oops"))
    peer.receive_data(wire)
    peer.receive_eof()
    events = peer.events_received()
    assert events[0].status_code == 500
    assert events[0].body == b"oops"


# -- our client -> websockets server ----------------------------------------------------


def test_our_client_request_accepted_by_websockets_server():
    peer = ServerProtocol(subprotocols=["superchat"])
    client = H11Handshake(CLIENT, random_bytes=fixed_mask)
    peer.receive_data(
        client.send(Request(host="example.com", target="/chat", subprotocols=["chat", "superchat"]))
    )
    [request] = peer.events_received()
    assert request.path == "/chat"
    response = peer.accept(request)
    assert response.status_code == 101, response.body
    peer.send_response(response)
    peer.send_text(b"hi from websockets")
    client.receive_data(drain(peer))
    events = list(client.events())
    assert len(events) == 1 and type(events[0]) is AcceptConnection
    assert events[0].subprotocol == "superchat"
    assert client.state is ConnectionState.OPEN
    assert list(client.connection.events()) == [TextMessage("hi from websockets")]

    peer.receive_data(client.connection.send(TextMessage("hi from lite")))
    assert peer.events_received() == [Frame(Opcode.TEXT, b"hi from lite")]


def test_our_client_deflate_offer_answered_by_websockets_server():
    peer = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
    extension = FakeDeflate(offer="client_max_window_bits")
    client = H11Handshake(CLIENT)
    peer.receive_data(client.send(Request(host="example.com", target="/", extensions=[extension])))
    [request] = peer.events_received()
    response = peer.accept(request)
    assert response.status_code == 101, response.body
    peer.send_response(response)
    client.receive_data(drain(peer))
    [event] = client.events()
    assert type(event) is AcceptConnection
    assert event.extensions == [extension]
    assert len(extension.finalized) == 1
    assert extension.finalized[0].startswith("permessage-deflate")


def test_our_client_reads_websockets_server_rejection():
    peer = ServerProtocol()
    client = H11Handshake(CLIENT)
    peer.receive_data(client.send(Request(host="example.com", target="/")))
    assert len(peer.events_received()) == 1
    peer.send_response(peer.reject(401, "who are you?\n"))
    client.receive_data(drain(peer))
    events = list(client.events())
    assert type(events[0]) is RejectConnection and events[0].status_code == 401
    assert b"".join(e.data for e in events[1:]) == b"who are you?\n"
    assert events[-1].body_finished
    assert client.state is ConnectionState.CLOSED


@pytest.mark.parametrize("version", [b"8", b"12"])
def test_our_426_understood_by_websockets_as_rejection(version):
    # A client speaking an older draft gets 426 with the version we support.
    peer = ClientProtocol(parse_uri("ws://example.com/"))
    request = peer.connect()
    del request.headers["Sec-WebSocket-Version"]
    request.headers["Sec-WebSocket-Version"] = version.decode()
    peer.send_request(request)
    server = H11Handshake(SERVER)
    with pytest.raises(HandshakeError) as info:
        server.receive_data(drain(peer))
    peer.receive_data(server.send(info.value.event_hint))
    [response] = peer.events_received()
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
