"""A small WebSocket client and server written only against wsproto's public API.

Nothing in this file names any package but wsproto. `tests/compat/__init__.py` (`load`) runs
this very source with the package name switched, so the same code drives wsproto and the
library under test; that code written for wsproto runs there with only the import changed is
the claim under test (DESIGN.md section 2).

Each side takes a connected blocking socket (the harness uses `socket.socketpair()` and a
thread per side) and returns a transcript: a list of tuples describing what it saw, which the
tests compare with what wsproto's semantics promise.
"""

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason, Opcode
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

RECV_SIZE = 65536
MAX_READS = 10000  # bounds every receive loop; a stuck peer hits the socket timeout first

HOST = "example.test"
SUBPROTOCOLS_OFFERED = ["chat.v2", "chat.v1"]
SUBPROTOCOLS_SUPPORTED = ["chat.v1", "chat.v0"]
FORBIDDEN = "/forbidden"
REJECT_BODY = b"nope"

TEXTS = ["hello", "h\u00e9llo \u2713 \U0001f389", ""]
BINARIES = [b"\x00\x01\xfe\xff", bytes(range(256)) * 800]  # the second is 200 KiB
FRAGMENTED_TEXT = ["frag-", "mented"]  # a ping travels between the two frames
FRAGMENTED_BINARY = [b"\x01\x02", b"", b"\x03"]
PING_MID = b"mid-message"
PING = b"are you there?"
CLOSE_REASON = "bye"


class Peer:
    """A WSConnection on a blocking socket: send events, wait for the next event."""

    def __init__(self, connection_type, sock):
        self.ws = WSConnection(connection_type)
        self.sock = sock
        self.pending = []
        self.eof = False
        self.pieces = []  # of the message being received
        self.frames = 0  # frames finished in it so far

    def send(self, event):
        self.sock.sendall(self.ws.send(event))

    def next_event(self):
        """The next event, reading from the socket as needed; None once the peer hung up."""
        for _ in range(MAX_READS):
            if self.pending:
                return self.pending.pop(0)
            if self.eof:
                return None
            data = self.sock.recv(RECV_SIZE)
            if not data:
                self.eof = True
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        raise RuntimeError("no event after %d reads" % MAX_READS)

    def next_message(self, log):
        """The next whole message as (kind, data, frames), or the first other event.

        wsproto hands a message over in pieces: every piece carries frame_finished (the
        last piece of a frame) and message_finished (the last piece of the message). A
        control event may arrive between the pieces; it is returned at once and the pieces
        gathered so far wait for the next call.
        """
        for _ in range(MAX_READS):
            event = self.next_event()
            if not isinstance(event, Message):
                return event
            if event.message_finished and not event.frame_finished:
                log.append(("message_finished without frame_finished", event))
            self.pieces.append(event.data)
            if event.frame_finished:
                self.frames += 1
            if event.message_finished:
                pieces, frames = self.pieces, self.frames
                self.pieces, self.frames = [], 0
                if isinstance(event, TextMessage):
                    return (Opcode.TEXT, "".join(pieces), frames)
                if isinstance(event, BytesMessage):
                    return (Opcode.BINARY, b"".join(pieces), frames)
                log.append(("Message neither TextMessage nor BytesMessage", event))
                return None
        raise RuntimeError("no whole message after %d pieces" % MAX_READS)

    def drain_to_eof(self):
        """After the close: read until the peer hangs up; returns the bytes that still came."""
        extra = 0
        for _ in range(MAX_READS):
            data = self.sock.recv(RECV_SIZE)
            if not data:
                return extra
            extra += len(data)
        raise RuntimeError("peer kept sending after the close")


def _echoed(item):
    if isinstance(item, tuple):
        return ("echo",) + item
    return ("unexpected", item)


def run_server(sock):
    """Echo server: accept (or refuse /forbidden), echo messages, answer pings and the close."""
    peer = Peer(ConnectionType.SERVER, sock)
    log = []
    for _ in range(MAX_READS):
        try:
            item = peer.next_message(log)
        except RemoteProtocolError as exc:
            log.append(("remote protocol error", str(exc)))
            if exc.event_hint is not None:
                peer.send(exc.event_hint)
            break
        if item is None:
            log.append(("eof",))
            break
        if isinstance(item, tuple):
            kind, data, frames = item
            log.append(("echo", kind, data, frames))
            if kind == Opcode.TEXT:
                peer.send(TextMessage(data=data))
            else:
                peer.send(BytesMessage(data=data))
        elif isinstance(item, Request):
            headers = [(n, v) for n, v in item.extra_headers if n.lower() == b"x-demo"]
            log.append(("request", item.host, item.target, list(item.subprotocols), headers))
            log.append(("state", peer.ws.state))
            if item.target == FORBIDDEN:
                peer.send(RejectConnection(status_code=403, has_body=True))
                log.append(("state", peer.ws.state))
                peer.send(RejectData(data=REJECT_BODY))
            else:
                chosen = None
                for name in item.subprotocols:
                    if name in SUBPROTOCOLS_SUPPORTED:
                        chosen = name
                        break
                peer.send(
                    AcceptConnection(subprotocol=chosen, extra_headers=[(b"X-Server", b"compat")])
                )
            log.append(("state", peer.ws.state))
        elif isinstance(item, Ping):
            log.append(("ping", item.payload))
            peer.send(item.response())
        elif isinstance(item, CloseConnection):
            log.append(("close", item.code, item.reason, peer.ws.state))
            peer.send(item.response())
            log.append(("state", peer.ws.state))
        else:
            log.append(("unexpected", item))
        if peer.ws.state == ConnectionState.CLOSED:
            break
    return log


def run_client(sock, target="/chat"):
    """Client: the opening handshake, messages of every kind, pings, then the closing handshake.

    For `target == FORBIDDEN` it expects the refusal and its body instead.
    """
    peer = Peer(ConnectionType.CLIENT, sock)
    log = []
    peer.send(
        Request(
            host=HOST,
            target=target,
            subprotocols=SUBPROTOCOLS_OFFERED,
            extra_headers=[(b"X-Demo", b"yes")],
        )
    )
    log.append(("state", peer.ws.state))
    event = peer.next_event()
    if isinstance(event, RejectConnection):
        # (the state here depends on how much of the response has arrived yet)
        log.append(("rejected", event.status_code, event.has_body))
        body = b""
        for _ in range(MAX_READS):
            event = peer.next_event()
            if not isinstance(event, RejectData):
                log.append(("unexpected", event))
                break
            body += event.data
            if event.body_finished:
                break
        log.append(("body", body, peer.ws.state))
        return log
    if not isinstance(event, AcceptConnection):
        log.append(("unexpected", event))
        return log
    headers = [(n, v) for n, v in event.extra_headers if n.lower() == b"x-server"]
    log.append(("accepted", event.subprotocol, list(event.extensions), headers, peer.ws.state))

    for data in TEXTS:
        peer.send(TextMessage(data=data))
        log.append(_echoed(peer.next_message(log)))
    for data in BINARIES:
        peer.send(BytesMessage(data=data))
        log.append(_echoed(peer.next_message(log)))

    # A fragmented text message with a ping between its frames; Message picks text from str.
    peer.send(Message(data=FRAGMENTED_TEXT[0], message_finished=False))
    peer.send(Ping(payload=PING_MID))
    peer.send(Message(data=FRAGMENTED_TEXT[1]))
    event = peer.next_message(log)
    log.append(("pong", event.payload) if isinstance(event, Pong) else ("unexpected", event))
    log.append(_echoed(peer.next_message(log)))

    # A fragmented binary message (with an empty middle frame); Message picks binary from bytes.
    for piece in FRAGMENTED_BINARY[:-1]:
        peer.send(Message(data=piece, message_finished=False))
    peer.send(Message(data=FRAGMENTED_BINARY[-1], message_finished=True))
    log.append(_echoed(peer.next_message(log)))

    peer.send(Ping(payload=PING))
    event = peer.next_message(log)
    log.append(("pong", event.payload) if isinstance(event, Pong) else ("unexpected", event))

    peer.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE, reason=CLOSE_REASON))
    log.append(("state", peer.ws.state))
    event = peer.next_message(log)
    if isinstance(event, CloseConnection):
        log.append(("close", event.code, event.reason, peer.ws.state))
    else:
        log.append(("unexpected", event))

    try:
        peer.send(TextMessage(data="too late"))
    except LocalProtocolError:
        log.append(("send after close refused",))
    else:
        log.append(("send after close accepted",))
    log.append(("bytes after close", peer.drain_to_eof()))
    return log
