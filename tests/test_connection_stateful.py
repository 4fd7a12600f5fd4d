"""A client and a server Connection back to back, driven by hypothesis rule by rule.

Each side sends text, binary (whole or in fragments), pings or a close when that is
legal, and must raise LocalProtocolError with its state unchanged when it is not;
bytes cross in pieces of any size; either side may hit EOF. Invariants: the state
never goes backward; nothing follows a CloseConnection; once both closes have been
delivered both sides are CLOSED; messages arrive in order and intact; pongs answer
our pings in order.

Two machines: automatic replies on (the core answers pings and closes), and off (the
model answers with .response() itself, whenever it chooses to).
"""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
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
    TextMessage,
)

CS = ConnectionState
RANK = {CS.OPEN: 1, CS.REMOTE_CLOSING: 2, CS.LOCAL_CLOSING: 2, CS.CLOSED: 3}
SIDES = st.sampled_from(["client", "server"])
CLOSE_CODES = st.sampled_from([1000, 1001, 1003, 1011, 3000, 4999, 1005])


class Side:
    """One endpoint and what the model knows about it."""

    def __init__(self, kind, auto_reply, key):
        self.conn = Connection(kind, auto_reply=auto_reply, random_bytes=lambda n: key[:n])
        self.outgoing = b""  # bytes on the wire towards the peer, not yet delivered
        self.events = []
        self.rank = RANK[self.conn.state]
        self.state = self.conn.state
        self.sent_messages = []  # complete messages, in order
        self.sending = None  # (type, parts) of a fragmented message under way
        self.sent_pings = []
        self.received_messages = []
        self.parts = []
        self.pongs = []
        self.owed = []  # responses the model still has to send (auto_reply off)
        self.got_close_frame = False  # a real close frame from the peer, not EOF
        self.eof = False  # our transport saw EOF: nothing more is delivered to us


class Pair(RuleBasedStateMachine):
    auto_reply = True

    def __init__(self):
        super().__init__()
        self.sides = {
            "client": Side(ConnectionType.CLIENT, self.auto_reply, b"\x37\xfa\x21\x3d"),
            "server": Side(ConnectionType.SERVER, self.auto_reply, b""),
        }

    def peer(self, name):
        return self.sides["server" if name == "client" else "client"]

    # -- sending -----------------------------------------------------------------------

    def try_send(self, side, event, legal):
        """Send event; it must work when legal and raise LocalProtocolError otherwise."""
        before = side.conn.state
        if not legal:
            try:
                side.conn.send(event)
            except LocalProtocolError:
                assert side.conn.state is before
                return False
            raise AssertionError("%r was sent in state %r" % (event, before))
        side.outgoing += side.conn.send(event)
        return True

    @rule(name=SIDES, text=st.booleans(), data=st.data(), finished=st.booleans())
    def send_message(self, name, text, data, finished):
        side = self.sides[name]
        if text:
            payload = data.draw(st.text(max_size=150))
        else:
            payload = data.draw(st.binary(max_size=300))
        kind = TextMessage if text else BytesMessage
        legal = side.conn.state is CS.OPEN and (side.sending is None or side.sending[0] is kind)
        if not self.try_send(side, kind(payload, message_finished=finished), legal):
            return
        parts = side.sending[1] if side.sending else []
        parts.append(payload)
        if finished:
            side.sent_messages.append(("" if text else b"").join(parts))
            side.sending = None
        else:
            side.sending = (kind, parts)

    @rule(name=SIDES, payload=st.binary(max_size=125))
    def send_ping(self, name, payload):
        side = self.sides[name]
        if self.try_send(side, Ping(payload), side.conn.state is CS.OPEN):
            side.sent_pings.append(payload)

    @rule(name=SIDES, code=CLOSE_CODES, reason=st.text(max_size=20))
    def send_close(self, name, code, reason):
        side = self.sides[name]
        legal = side.conn.state in (CS.OPEN, CS.REMOTE_CLOSING)
        reason = None if code == 1005 else reason
        self.try_send(side, CloseConnection(code, reason), legal)

    @precondition(lambda self: not self.auto_reply)
    @rule(name=SIDES)
    def respond(self, name):
        """The application sends the responses it owes (auto_reply off), if still legal."""
        side = self.sides[name]
        owed, side.owed = side.owed, []
        for event in owed:
            if isinstance(event, Pong):
                self.try_send(side, event, side.conn.state is CS.OPEN)
            else:
                self.try_send(side, event, side.conn.state is CS.REMOTE_CLOSING)

    # -- the network -------------------------------------------------------------------

    @rule(name=SIDES, n=st.integers(1, 400))
    def deliver(self, name, n):
        """Move up to n bytes from `name`'s outgoing wire into its peer."""
        side = self.sides[name]
        peer = self.peer(name)
        if peer.eof or not side.outgoing:
            return
        chunk, side.outgoing = side.outgoing[:n], side.outgoing[n:]
        self.receive(peer, chunk)

    @rule(name=SIDES)
    def eof(self, name):
        """`name`'s transport sees EOF: the peer's bytes still in flight are lost."""
        side = self.sides[name]
        if side.eof:
            return
        side.eof = True
        self.peer(name).outgoing = b""
        self.receive(side, None)

    def receive(self, side, chunk):
        before = side.conn.state
        side.conn.receive_data(chunk)
        got = list(side.conn.events())
        replies = side.conn.data_to_send()
        if before is not CS.OPEN:  # nothing goes out after our close frame, or once closed
            assert replies == b"", "sent in %r: %r" % (before, replies)
        side.outgoing += replies
        if got and any(isinstance(e, CloseConnection) for e in side.events):
            raise AssertionError("events after a CloseConnection: %r" % got)
        for i, event in enumerate(got):
            assert not isinstance(event, ProtocolViolation), (
                "a correct peer was refused: %r" % event
            )
            if isinstance(event, CloseConnection):
                assert i == len(got) - 1, "events after a CloseConnection: %r" % got
                if chunk is None:
                    assert event.code == 1006
                else:
                    side.got_close_frame = True
                    if not self.auto_reply and side.conn.state is CS.REMOTE_CLOSING:
                        side.owed.append(event.response())
            elif isinstance(event, Message):
                side.parts.append(event.data)
                if event.message_finished:
                    empty = "" if isinstance(event, TextMessage) else b""
                    side.received_messages.append(empty.join(side.parts))
                    side.parts = []
            elif isinstance(event, Ping):
                if not self.auto_reply:
                    side.owed.append(event.response())
            elif isinstance(event, Pong):
                side.pongs.append(event.payload)
        if chunk is None:
            assert side.conn.state is CS.CLOSED
            if before in (CS.OPEN, CS.LOCAL_CLOSING):
                assert [type(e) for e in got] == [CloseConnection]
            else:
                assert got == []
        side.events.extend(got)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def state_never_goes_backward(self):
        for side in self.sides.values():
            state = side.conn.state
            assert RANK[state] >= side.rank, (side.state, state)
            if side.rank == 2 and RANK[state] == 2:
                assert state is side.state  # never from one closing state to the other
            side.rank = RANK[state]
            side.state = state

    @invariant()
    def messages_arrive_in_order_and_intact(self):
        for name, side in self.sides.items():
            sent = self.peer(name).sent_messages
            got = side.received_messages
            assert got == sent[: len(got)], (got, sent)

    @invariant()
    def pongs_answer_our_pings_in_order(self):
        for side in self.sides.values():
            assert side.pongs == side.sent_pings[: len(side.pongs)]

    @invariant()
    def both_closes_delivered_means_both_closed(self):
        client, server = self.sides["client"], self.sides["server"]
        if client.got_close_frame and server.got_close_frame:
            assert client.conn.state is CS.CLOSED and server.conn.state is CS.CLOSED

    @invariant()
    def closed_sides_send_nothing_more(self):
        for side in self.sides.values():
            if side.conn.state is CS.CLOSED:
                assert side.conn.data_to_send() == b""

    def teardown(self):
        """Deliver everything still in flight: whatever was sent and not lost arrives."""
        for _ in range(10):
            moved = False
            for name in ("client", "server"):
                side = self.sides[name]
                if side.outgoing and not self.peer(name).eof:
                    chunk, side.outgoing = side.outgoing, b""
                    self.receive(self.peer(name), chunk)
                    moved = True
                if not self.auto_reply and side.owed:
                    self.respond(name)
                    moved = True
            if not moved:
                break
        self.state_never_goes_backward()
        self.both_closes_delivered_means_both_closed()
        for name, side in self.sides.items():
            peer = self.peer(name)
            if not side.eof and not peer.eof and not side.got_close_frame:
                # Nothing was lost and no close arrived: every complete message arrived.
                assert side.received_messages == peer.sent_messages
            if side.conn.state is CS.OPEN and peer.conn.state is CS.OPEN and not peer.eof:
                assert side.pongs == side.sent_pings  # every ping was answered


class PairWithoutAutoReply(Pair):
    auto_reply = False


STATEFUL = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestPairWithAutoReply = Pair.TestCase
TestPairWithAutoReply.settings = STATEFUL
TestPairWithoutAutoReply = PairWithoutAutoReply.TestCase
TestPairWithoutAutoReply.settings = STATEFUL
