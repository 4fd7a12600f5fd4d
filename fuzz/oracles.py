"""The invariants every harness checks, as plain functions of the input bytes.

Each run_* function drives one part of wsproto_lite with fuzzer bytes and raises
InvariantBroken when the core breaks a promise. Any other exception escaping a run_*
function is a crash of the core: nothing here catches broad exceptions. The promises
(STYLE.md §5, §7; DESIGN.md §2):

- only documented exceptions: a Connection's receive_data()/events() never raise for
  peer input (receive_data() raises LocalProtocolError for bytes fed once CLOSED without
  auto_reply, as wsproto does); the handshake raises only RemoteProtocolError subclasses
  for bad peer input; send() raises only LocalProtocolError for bad application input;
- buffers stay within the limits: FrameParser.buffered <= max(max_frame_size, 125) + 14
  + the bytes fed since events were last drained; a handshake never holds more than
  max_handshake_size bytes of head (or of frames waiting for the accept);
- the state never goes backward;
- every violation has its close code (ProtocolViolation 1002, Utf8Violation 1007,
  SizeViolation 1009), and with auto_reply our last frame out is a close with that code;
- nothing is emitted or accepted after CLOSED, and nothing is sent after our close frame;
- valid streams round-trip: what the parser accepts re-encodes to the same frames, in
  any chunking; what send() emits parses back to what was sent;
- the C accelerator changes nothing: a Connection on it and one on the pure path give
  the same results, events, states and bytes (run_speedups).

No pytest and no atheris here: the harnesses (fuzz/harness.py), the replayer
(fuzz/replay.py) and the test suite (tests/test_fuzz_mutator.py) all call these.
"""

import base64
import enum
import hashlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from types import ModuleType

from fuzz import formats
from fuzz.formats import (
    FLAG_FINISHED,
    FLAG_STR,
    FLAG_SURROGATES,
    FRAME_LIMITS,
    HANDSHAKE_LIMITS,
    MESSAGE_LIMITS,
    REJECT_BODY_LIMITS,
    SEND_KINDS,
)
from wsproto_lite import WSConnection
from wsproto_lite.connection import Connection, ConnectionState, ConnectionType
from wsproto_lite.errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    RejectConnection,
    RejectData,
    Request,
    SizeViolation,
    TextMessage,
    Utf8Violation,
)
from wsproto_lite.extensions import Extension, RsvBits
from wsproto_lite.frames import (
    SPEEDUPS,
    FrameParser,
    build_frame,
    encode_frame,
    is_valid_close_code,
    parse_close_payload,
)
from wsproto_lite.handshake import H11Handshake

MASK_KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's key: all-zero would hide masking bugs
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VIOLATION_CODES = {ProtocolViolation: 1002, Utf8Violation: 1007, SizeViolation: 1009}
HANDSHAKE_STATUSES = (400, 405, 426, 431)
SUBPROTOCOL_OFFERS = ([], ["chat"], ["chat", "superchat"], ["a", "b", "c"])
_UNLIMITED = 1 << 64

_S = ConnectionState
# The only moves a state may make (DESIGN.md §2): never backward, never sideways.
NEXT_STATES = {
    _S.CONNECTING: (_S.OPEN, _S.REJECTING, _S.CLOSED),
    _S.OPEN: (_S.REMOTE_CLOSING, _S.LOCAL_CLOSING, _S.CLOSED),
    _S.REMOTE_CLOSING: (_S.CLOSED,),
    _S.LOCAL_CLOSING: (_S.CLOSED,),
    _S.REJECTING: (_S.CLOSED,),
    _S.CLOSED: (),
}


class InvariantBroken(AssertionError):
    """wsproto_lite broke one of the promises above (not raised by `assert`: -O keeps it)."""


def check(condition: object, message: str, *args: object) -> None:
    if not condition:
        raise InvariantBroken(message % args if args else message)


def fixed_random(n: int) -> bytes:
    """random_bytes for the core: the same bytes every time, so the handshake key is fixed."""
    return bytes((i * 37 + 11) & 0xFF for i in range(n))


def expected_accept(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for `key`, computed without wsproto_lite (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


CLIENT_KEY = base64.b64encode(fixed_random(16))


class FuzzExtension(Extension):
    """A test extension that claims RSV1 and does what the payload asks, so that every
    extension hook path is reachable from fuzzer bytes.

    A data frame piece starting with b"!e2", b"!e7" or b"!e9" is refused with 1002, 1007
    or 1009; one starting with b"!z" comes out 16 times over, as from a decompressor; a
    frame whose last piece ends with b"!t" gets b"<tail>" appended when it ends, and one
    ending with b"!f" is refused at its end with 1002.
    """

    name = "x-fuzz"

    def __init__(self) -> None:
        self._last = b""

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool:
        return True

    def accept(self, offer: str) -> str:
        return ""

    def frame_inbound_header(
        self, proto: object, opcode: int, rsv: RsvBits, payload_length: int
    ) -> RsvBits:
        return RsvBits(rsv.rsv1, False, False)

    def frame_inbound_payload_data(self, proto: object, data: bytes) -> "bytes | int":
        if data:
            self._last = bytes(data[-2:])
        if data[:2] == b"!e" and data[2:3] in (b"2", b"7", b"9"):
            return {b"2": 1002, b"7": 1007, b"9": 1009}[data[2:3]]
        if data[:2] == b"!z":
            return bytes(data) * 16
        return data

    def frame_inbound_complete(self, proto: object, fin: bool) -> "bytes | int | None":
        last = self._last
        self._last = b""
        if last == b"!t":
            return b"<tail>"
        if last == b"!f":
            return 1002
        return None


def _text(data: bytes, flags: int) -> str:
    return data.decode("utf-8", "surrogateescape" if flags & FLAG_SURROGATES else "replace")


def _check_close_payload(payload: bytes, what: str) -> int:
    try:
        code, _reason = parse_close_payload(payload)
    except RemoteProtocolError as exc:
        raise InvariantBroken("%s: invalid close payload %r (%s)" % (what, payload, exc)) from None
    return code


# -- the frame parser ---------------------------------------------------------------------


class ParseResult:
    """What a FrameParser made of a byte stream: whole frames, the unfinished one, the error."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes, bool, int]] = []
        self.partial: tuple[int, bytes, bool, int] | None = None  # a streamed, unfinished frame
        self.error: RemoteProtocolError | None = None


def frame_bound(parser: FrameParser) -> int | None:
    """The most bytes a drained parser may hold before the next feed, or None (no limit)."""
    # A frame over the message limit is refused at its header as well.
    limit = min(parser.max_frame_size, parser.max_message_size)
    if limit >= _UNLIMITED:
        return None
    return max(limit, 125) + 14


def as_buffer(data: bytes, kind: int) -> "bytes | bytearray | memoryview":
    """`data` as bytes (kind 0), bytearray (1) or a memoryview of a bytearray (2)."""
    if kind == 1:
        return bytearray(data)
    if kind == 2:
        return memoryview(bytearray(data))
    return data


def parse_stream(
    parser: FrameParser, pieces: "list[bytes]", buffer_kinds: bool = False
) -> ParseResult:
    """Feed `pieces`, draining next_frame() after each; check the parser's own promises.

    With buffer_kinds, the pieces go in as bytes, bytearray and memoryview in turn.
    """
    result = ParseResult()
    bound = frame_bound(parser)
    in_message = False
    message_size = 0
    for i, piece in enumerate(pieces):
        parser.feed(as_buffer(piece, i % 3) if buffer_kinds else piece)
        while True:
            try:
                frame = parser.next_frame()
            except RemoteProtocolError as exc:
                _check_frame_error(parser, exc)
                result.error = exc
                return result
            if frame is None:
                break
            opcode, payload, fin, rsv = frame.opcode, frame.payload, frame.fin, frame.rsv
            check(type(payload) is bytes, "payload is %s, not bytes", type(payload).__name__)
            check(
                not rsv & ~parser.allowed_rsv,
                "RSV 0x%x accepted, allowed 0x%x",
                rsv,
                parser.allowed_rsv,
            )
            check(opcode in (0, 1, 2, 8, 9, 10), "reserved opcode 0x%x accepted", opcode)
            if opcode >= 8:
                check(fin and frame.frame_finished, "fragmented control frame accepted")
                check(len(payload) <= 125, "control frame of %d bytes accepted", len(payload))
                result.frames.append((opcode, payload, fin, rsv))
                continue
            check(
                (opcode == 0) == in_message,
                "opcode %d accepted %s a fragmented message",
                opcode,
                "inside" if in_message else "outside",
            )
            part = result.partial
            if part is not None:
                check(
                    (opcode, fin, rsv) == (part[0], part[2], part[3]),
                    "a frame's pieces disagree on its header: %r then %r",
                    part,
                    frame,
                )
                payload = part[1] + payload
            check(
                parser.stream_payload or frame.frame_finished,
                "an unfinished piece without stream_payload",
            )
            if frame.frame_finished:
                result.partial = None
                check(
                    len(payload) <= parser.max_frame_size,
                    "frame of %d bytes accepted, limit %d",
                    len(payload),
                    parser.max_frame_size,
                )
                message_size += len(payload)
                check(
                    message_size <= parser.max_message_size,
                    "message of %d bytes accepted, limit %d",
                    message_size,
                    parser.max_message_size,
                )
                in_message = not fin
                if fin:
                    message_size = 0
                result.frames.append((opcode, payload, fin, rsv))
            else:
                result.partial = (opcode, payload, fin, rsv)
        if bound is not None:
            check(
                parser.buffered <= bound + len(piece),
                "parser holds %d bytes after draining; bound %d + last feed %d",
                parser.buffered,
                bound,
                len(piece),
            )
    return result


def _check_frame_error(parser: FrameParser, exc: RemoteProtocolError) -> None:
    code = exc.code
    check(code in (1002, 1009), "frame parser error with close code %r", code)
    hint = exc.event_hint
    check(type(hint) in VIOLATION_CODES, "event_hint is %r", hint)
    check(VIOLATION_CODES[type(hint)] == hint.code == code, "event_hint %r for code %r", hint, code)
    # The parser stops at the first error and repeats it.
    try:
        parser.next_frame()
    except RemoteProtocolError as again:
        check(again is exc, "a second next_frame() raised %r after %r", again, exc)
    else:
        raise InvariantBroken("next_frame() after %r raised nothing" % (exc,))


def _merged(result: ParseResult) -> tuple[object, ...]:
    err = result.error
    return (
        result.frames,
        result.partial,
        None if err is None else (type(err), str(err)),
    )


def run_frame_parser(data: bytes, expect_mask: bool) -> ParseResult:
    """Config byte 0: frame limit (bits 0-2), message limit (3-5), stream_payload (6),
    pieces fed as bytes, bytearray and memoryview in turn (7). Config byte 1: allowed RSV
    bits (0-2), chunking seed (3-7). Body: the bytes to parse.
    """
    c0, c1, body = formats.split_config(data)

    def make() -> FrameParser:
        return FrameParser(
            expect_mask=expect_mask,
            max_frame_size=FRAME_LIMITS[c0 & 7],
            max_message_size=MESSAGE_LIMITS[(c0 >> 3) & 7],
            allowed_rsv=c1 & 7,
            stream_payload=bool(c0 & 0x40),
        )

    seed = c1 >> 3
    got = parse_stream(make(), formats.chunks(seed, body), bool(c0 & 0x80))
    # Any chunking gives the same frames and the same error.
    other = parse_stream(make(), formats.chunks(5 if seed == 0 else 0, body))
    check(
        _merged(got) == _merged(other),
        "chunking changed the result:\n  %r\n  %r",
        _merged(got),
        _merged(other),
    )
    # What was accepted re-encodes, and parses back to the same frames in any chunking.
    key = MASK_KEY if expect_mask else None
    wire = b""
    for opcode, payload, fin, rsv in got.frames:
        encoded = encode_frame(opcode, payload, fin, rsv, key)
        built = build_frame(opcode, payload, fin, rsv, key)
        check(encoded == built, "encode_frame and build_frame disagree on %r", (opcode, fin, rsv))
        wire += encoded
    again = parse_stream(make(), formats.chunks(seed + 2, wire))
    check(again.error is None, "re-encoded frames refused: %r", again.error)
    check(again.partial is None, "re-encoded frames left a partial frame")
    check(again.frames == got.frames, "re-encoded frames parse differently")
    return got


# -- one connection, through its public API ----------------------------------------------


class Watcher:
    """Drives a WSConnection or a Connection and checks every step against the invariants.

    Every call into the connection goes through a do_* method, which checks the result;
    the watcher also parses everything the connection emits with a FrameParser of the
    peer's role, so invalid output, output after our close frame and send() round trips
    are caught as they happen.
    """

    def __init__(
        self,
        target: "WSConnection | Connection",
        *,
        client: bool,
        auto_reply: bool,
        whole_messages: bool,
        max_message_size: int | None,
        max_handshake_size: int | None = None,
        subprotocols: "list[str] | None" = None,
        extensions: bool = False,
    ) -> None:
        self.target = target
        self.ws = target if isinstance(target, WSConnection) else None
        self.client = client
        self.auto_reply = auto_reply
        self.whole_messages = whole_messages
        self.max_message_size = max_message_size
        self.max_handshake_size = max_handshake_size
        self.subprotocols = subprotocols or []
        self.extensions = extensions
        self.state = target.state
        self.conn: Connection | None = None
        self.fed_since_drain = 0
        self.biggest_feed = 0
        self.eof_fed = False
        self.close_seen = False
        self.buffered_at_close = 0
        self.closed_drained = False  # CLOSED, and events() drained since
        self.closed_flushed = False  # CLOSED, and data_to_send() drained since
        self.last_event: object = None
        self.request: Request | None = None
        self.accepted = False
        self.rejected = False
        self.reject_has_body = False
        self.body_finished = False
        self.body_size = 0
        self.msg_text: bool | None = None  # the type of the message being received
        self.msg_size = 0
        self.frame_size = 0
        self.peer: FrameParser | None = None  # parses our output, as the peer would
        self.our_close: int | None = None  # the code of the close frame we sent
        self.last_out: tuple[int, bytes] | None = None
        self.sent_data: list[tuple[int, bytes, bool]] = []
        self.got_data: list[tuple[int, bytes, bool]] = []
        self.checked_data = 0  # got_data[:checked_data] is known to equal sent_data's start
        self.sending: int | None = None
        self._attach()

    # -- helpers

    def connection(self) -> "Connection | None":
        return self.ws.connection if self.ws is not None else self.target  # type: ignore[return-value]

    def _attach(self) -> None:
        conn = self.connection()
        if conn is not None and self.conn is None:
            self.conn = conn
            # Frames that waited for the accept (or trailed the 101) are in it now.
            self.fed_since_drain += conn._parser.buffered

    def observe(self) -> None:
        """Check the state moved only forward since last time."""
        new = self.target.state
        if new is not self.state:
            check(new in NEXT_STATES[self.state], "state went %r -> %r", self.state, new)
            self.state = new
        self._attach()
        if new is _S.CLOSED and not self.closed_flushed:
            self.do_data_to_send()

    def check_buffers(self) -> None:
        conn = self.conn
        if conn is not None:
            parser = conn._parser
            if self.close_seen:
                # Nothing is parsed, so nothing may be buffered, after the close.
                check(
                    parser.buffered <= self.buffered_at_close,
                    "%d bytes buffered after the close (%d at the close)",
                    parser.buffered,
                    self.buffered_at_close,
                )
            else:
                bound = frame_bound(parser)
                if bound is not None:
                    check(
                        parser.buffered <= bound + self.fed_since_drain,
                        "connection holds %d bytes: bound %d + %d fed since the last drain",
                        parser.buffered,
                        bound,
                        self.fed_since_drain,
                    )
            if self.max_message_size is not None:
                parts = conn._parts or ()
                # A binary message's pieces are one bytearray; a text message's, a list of str.
                held = len(parts) if isinstance(parts, bytearray) else sum(map(len, parts))
                check(
                    held <= self.max_message_size,
                    "%d bytes of message pieces held, limit %d",
                    held,
                    self.max_message_size,
                )
        if self.ws is not None and self.max_handshake_size is not None:
            hs = self.ws.handshake
            check_handshake_buffers(hs, self.max_handshake_size, self.biggest_feed)

    def emit(self, data: bytes, frames: bool) -> None:
        """Bytes the connection produced; frames go through the peer's parser."""
        check(type(data) is bytes, "emitted %s, not bytes", type(data).__name__)
        if not data:
            return
        if not frames:
            return  # a handshake head: fuzz/oracles.run_handshake_* check those
        if self.peer is None:
            self.peer = FrameParser(
                expect_mask=self.client, allowed_rsv=7 if self.extensions else 0
            )
        peer = self.peer
        peer.feed(data)
        while True:
            try:
                frame = peer.next_frame()
            except RemoteProtocolError as exc:
                raise InvariantBroken("we emitted an invalid frame: %s" % (exc,)) from None
            if frame is None:
                break
            check(self.our_close is None, "frame %r sent after our close frame", frame)
            if frame.opcode == 8:
                self.our_close = _check_close_payload(frame.payload, "our close frame")
            elif frame.opcode < 8:
                self.got_data.append((frame.opcode, frame.payload, frame.fin))
            self.last_out = (frame.opcode, frame.payload)
        check(peer.buffered == 0, "we emitted a partial frame")
        self.check_new_data("data frames out differ from what was sent:\n  sent %r\n  out  %r")

    # -- receiving

    def do_receive(self, data: "bytes | bytearray | memoryview | None") -> None:
        had_connection = self.conn is not None
        conn = self.conn
        # As in wsproto: bytes fed once CLOSED are the application's mistake, refused with
        # LocalProtocolError, changing nothing (not with auto_reply: then the core reached
        # CLOSED by itself, and drops them).
        refuse = (
            conn is not None
            and data is not None
            and conn.state is _S.CLOSED
            and not conn.auto_reply
        )
        try:
            self.target.receive_data(data)
        except LocalProtocolError as exc:
            check(refuse, "receive_data() raised %r", exc)
            check(conn is not None and conn.state is _S.CLOSED, "a refused feed changed state")
            self.observe()
            return
        except RemoteProtocolError as exc:
            check(
                not had_connection and self.ws is not None,
                "receive_data() raised %r after the handshake",
                exc,
            )
            self._handshake_error(exc)
        check(not refuse, "receive_data() took bytes in state CLOSED")
        # During the handshake b"" is EOF too, as in wsproto (h11); after it, nothing.
        if data is None or (not had_connection and not data):
            self.eof_fed = True
        else:
            self.fed_since_drain += len(data)
            self.biggest_feed = max(self.biggest_feed, len(data))
        self.observe()
        self.check_buffers()

    def _handshake_error(self, exc: RemoteProtocolError) -> None:
        check(isinstance(exc.event_hint, RejectConnection), "handshake error hint %r", exc)
        if self.client:
            check(self.target.state is _S.CLOSED, "client state %r after a bad response", exc)
        else:
            check(isinstance(exc, HandshakeError), "server raised %r, not a HandshakeError", exc)
            check(exc.status_code in HANDSHAKE_STATUSES, "status %r for %r", exc.status_code, exc)
            self.do_send(exc.event_hint)  # what a server does: answer with the rejection

    def do_events(self, limit: int | None = None) -> None:
        for count, event in enumerate(self.target.events(), 1):
            self.on_event(event)
            if limit is not None and count >= limit:
                break  # abandon the iterator mid-way: the next events() must carry on
        else:
            self.fed_since_drain = 0
            if self.state is _S.CLOSED:
                self.closed_drained = True
        self.observe()
        self.check_buffers()

    def on_event(self, event: object) -> None:
        before = self.state
        check(not self.closed_drained, "event %r after CLOSED", event)
        check(not self.close_seen, "event %r after the close", event)
        self.last_event = event
        self.observe()
        if isinstance(event, CloseConnection):
            self._on_close(event, before)
        elif isinstance(event, Message):
            self._on_message(event)
        elif isinstance(event, (Ping, Pong)):
            check(type(event.payload) is bytes, "%r payload is not bytes", event)
            check(len(event.payload) <= 125, "%r payload over 125 bytes", event)
            check(self.conn is not None, "%r before the handshake", event)
        elif isinstance(event, Request):
            check(self.ws is not None and not self.client, "Request event at a client")
            check(self.request is None, "a second Request")
            self.request = event
        elif isinstance(event, AcceptConnection):
            check(self.ws is not None and self.client, "AcceptConnection at a server")
            check(not self.accepted and not self.rejected, "a second handshake answer")
            # Events are lazy: EOF or a close may already have been fed, so OPEN or later.
            check(self.conn is not None, "AcceptConnection without a connection")
            sub = event.subprotocol
            check(sub is None or sub in self.subprotocols, "subprotocol %r never offered", sub)
            self.accepted = True
        elif isinstance(event, RejectConnection):
            check(self.ws is not None and self.client, "RejectConnection at a server")
            check(not self.accepted and not self.rejected, "a second handshake answer")
            self.rejected = True
            self.reject_has_body = event.has_body
        elif isinstance(event, RejectData):
            check(self.rejected and self.reject_has_body, "RejectData without a body to carry")
            check(not self.body_finished, "RejectData after the body finished")
            self.body_size += len(event.data)
            check(self.body_size <= 65536, "rejection body of %d bytes", self.body_size)
            self.body_finished = event.body_finished
        else:
            raise InvariantBroken("unknown event %r" % (event,))

    def _on_close(self, event: CloseConnection, before: "ConnectionState") -> None:
        self.close_seen = True
        if self.conn is not None:
            self.buffered_at_close = self.conn._parser.buffered
        check(self.conn is not None, "%r before the handshake", event)
        check(self.state in (_S.REMOTE_CLOSING, _S.CLOSED), "state %r after %r", self.state, event)
        expect_reply = self.auto_reply and before is _S.OPEN and not self.eof_fed
        if isinstance(event, ProtocolViolation):
            kind = type(event)
            check(kind in VIOLATION_CODES, "unknown violation %r", event)
            # An extension's own bad data (a corrupt deflate stream) is a ProtocolViolation
            # carrying 1007; bad UTF-8 is a Utf8Violation.
            from_extension = kind is ProtocolViolation and event.code == 1007 and self.extensions
            check(
                event.code == VIOLATION_CODES[kind] or from_extension,
                "%r has the wrong code",
                event,
            )
            response = event.response()
            check(type(response) is CloseConnection, "%r.response() is %r", event, response)
            check(response.code == event.code, "%r.response() has code %r", event, response.code)
        elif event.code == 1006:
            check(self.eof_fed, "CloseConnection(1006) without EOF")
            expect_reply = False
        else:
            check(
                event.code == 1005 or is_valid_close_code(event.code),
                "peer close with code %r accepted",
                event.code,
            )
        if expect_reply:
            # The close frame must be the last thing in the outbox, with this code.
            self.do_data_to_send()
            check(
                self.last_out is not None and self.last_out[0] == 8,
                "no close frame queued after %r (last out %r)",
                event,
                self.last_out,
            )
            check(self.our_close == event.code, "closed with %r after %r", self.our_close, event)

    def _on_message(self, event: Message) -> None:
        check(self.conn is not None, "%r before the handshake", event)
        text = type(event) is TextMessage
        check(text or type(event) is BytesMessage, "a bare %r", event)
        data = event.data
        if text:
            check(type(data) is str, "TextMessage data is %s", type(data).__name__)
            size = len(data.encode("utf-8"))  # str from valid UTF-8 always encodes
        else:
            check(type(data) in (bytes, bytearray), "BytesMessage data is %s", type(data).__name__)
            size = len(data)
        if self.msg_text is None:
            self.msg_text = text
            self.msg_size = 0
        check(self.msg_text == text, "a message changed type mid-way: %r", event)
        self.msg_size += size
        self.frame_size += size
        limit = self.max_message_size
        if limit is not None:
            check(self.msg_size <= limit, "message of %d bytes, limit %d", self.msg_size, limit)
        if self.whole_messages:
            check(event.frame_finished and event.message_finished, "a piece %r", event)
        check(event.frame_finished or not event.message_finished, "finished message, not frame")
        if event.frame_finished:
            conn = self.conn
            assert conn is not None
            frame_limit = min(conn._parser.max_frame_size, conn._parser.max_message_size)
            # A text frame's pieces may carry up to 3 bytes of a code point begun before it.
            # Whether max_frame_size also bounds what an extension outputs is left open
            # (max_message_size must: PEERS.md §2 item 8), so frames are checked without.
            if not self.whole_messages and not conn.extensions:
                check(
                    self.frame_size <= frame_limit + (3 if text else 0),
                    "frame of %d bytes, limit %d",
                    self.frame_size,
                    frame_limit,
                )
            self.frame_size = 0
        if event.message_finished:
            self.msg_text = None

    # -- sending

    def do_send(self, event: object) -> bytes | None:
        had_connection = self.conn is not None
        before = self.state
        try:
            out = self.target.send(event)  # type: ignore[arg-type]
        except LocalProtocolError:
            check(self.target.state is before, "a refused send() changed the state")
            return None
        check(before is not _S.CLOSED, "send(%r) in CLOSED gave bytes", event)
        check(self.our_close is None, "send(%r) succeeded after our close frame", event)
        if had_connection and isinstance(event, Message):
            data = event.data
            opcode = 1 if isinstance(data, str) else 2
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            if self.sending is not None:
                check(self.sending == opcode, "a fragmented message changed type when sent")
                opcode = 0
            fin = event.message_finished
            self.sent_data.append((opcode, payload, fin))
            self.sending = None if fin else (self.sending or opcode)
        if not had_connection:
            self._check_handshake_out(event, out)
        self.emit(out, had_connection)
        if had_connection and isinstance(event, Message):
            # emit() checked got_data against sent_data's start: only the count is left.
            check(
                len(self.got_data) == len(self.sent_data), "send(%r) emitted no data frame", event
            )
        self.observe()
        return out

    def check_new_data(self, message: str) -> None:
        """got_data is a start of sent_data; only what came since the last call is compared
        (each emit() used to compare both lists whole: quadratic in a long script)."""
        done, n = self.checked_data, len(self.got_data)
        check(
            self.got_data[done:] == self.sent_data[done:n], message, self.sent_data, self.got_data
        )
        self.checked_data = n

    def _check_handshake_out(self, event: object, out: bytes) -> None:
        if isinstance(event, AcceptConnection):
            check(out.startswith(b"HTTP/1.1 101 "), "accept gave %r", out[:40])
            # The application may accept before it has taken the Request event.
            assert self.ws is not None
            request = self.ws.handshake._request
            check(request is not None, "accepted without a request")
            assert request is not None
            key = next(v for n, v in request.extra_headers if n == b"sec-websocket-key")
            check(
                b"\r\nSec-WebSocket-Accept: " + expected_accept(bytes(key)) + b"\r\n" in out,
                "wrong Sec-WebSocket-Accept in %r",
                out,
            )
        elif isinstance(event, RejectConnection):
            check(out.startswith(b"HTTP/1.1 %d" % event.status_code), "reject gave %r", out[:40])
            check(out.endswith(b"\r\n\r\n"), "reject head unterminated: %r", out[-40:])

    def do_data_to_send(self) -> None:
        out = self.target.data_to_send()
        if self.conn is None:
            check(out == b"", "data_to_send() gave %r during the handshake", out)
        if self.closed_flushed:
            check(out == b"", "data_to_send() gave %r after CLOSED", out)
        self.emit(out, True)
        if self.target.state is _S.CLOSED:
            self.closed_flushed = True

    def do_reply(self, first_subprotocol: bool, extension: bool) -> None:
        """What a typical application sends back for the last event."""
        event = self.last_event
        if isinstance(event, Request):
            sub = event.subprotocols[0] if first_subprotocol and event.subprotocols else None
            exts = [FuzzExtension()] if extension else []
            self.do_send(AcceptConnection(subprotocol=sub, extensions=exts))
        elif isinstance(event, (Ping, CloseConnection)):
            self.do_send(event.response())
        elif isinstance(event, TextMessage):
            self.do_send(TextMessage(event.data, message_finished=event.message_finished))
        elif isinstance(event, BytesMessage):
            self.do_send(BytesMessage(event.data, message_finished=event.message_finished))

    def finish(self) -> None:
        """Drain everything, then check the end-of-input promises."""
        self.do_events()
        self.do_data_to_send()
        if self.eof_fed and self.conn is not None:
            check(self.close_seen, "EOF after the handshake gave no CloseConnection")
        if self.state is _S.CLOSED:
            self.do_events()
            self.do_data_to_send()


def check_handshake_buffers(hs: H11Handshake, limit: int, biggest_feed: int = 0) -> None:
    """A head (and frames waiting for the accept) within `limit`; a rejection body's
    chunk-size line within 1024 bytes plus one feed (it is refused once over, and the
    refused line may stay held)."""
    reader = hs._reader
    if reader is not None:
        held = len(reader._buf)
        check(held <= limit, "handshake holds %d bytes of head, limit %d", held, limit)
    check(len(hs._pending) <= limit, "handshake holds %d bytes of frames", len(hs._pending))
    body = hs._body
    if body is not None:
        held = len(body._line)
        check(held <= 1024 + biggest_feed, "chunk-size line of %d bytes held", held)
        trailer = body._trailer
        if trailer is not None:
            check(len(trailer._buf) <= limit + 2, "trailer of %d bytes held", len(trailer._buf))


# -- WSConnection fed a script ------------------------------------------------------------


def make_event(kind: str, flags: int, data: bytes, watcher: Watcher) -> object:
    """The application event a SEND record asks for; may be invalid on purpose."""
    finished = bool(flags & FLAG_FINISHED)
    text = _text(data, flags)
    if kind == "text":
        return TextMessage(text, message_finished=finished)
    if kind == "bytes":
        return BytesMessage(data, message_finished=finished)
    if kind == "message":
        return Message(text if flags & FLAG_STR else data, message_finished=finished)
    if kind == "ping":
        return Ping(data)
    if kind == "pong":
        return Pong(data)
    if kind == "close":
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1000
        return CloseConnection(code, _text(data[2:], flags) if flags & FLAG_STR else None)
    if kind == "close_response":
        last = watcher.last_event
        if isinstance(last, CloseConnection):
            return last.response()
        return CloseConnection(1000)
    if kind == "pong_response":
        last = watcher.last_event
        return last.response() if isinstance(last, Ping) else Pong(data[:125])
    if kind == "accept":
        sub = text[:20] if flags & FLAG_STR else None
        headers = [(data[:8], data[8:])] if len(data) > 8 else []
        exts = [FuzzExtension()] if flags & 0x04 else []
        return AcceptConnection(subprotocol=sub, extensions=exts, extra_headers=headers)
    if kind == "reject":
        status = int.from_bytes(data[:2], "big") if len(data) >= 2 else 403
        headers = [(b"x-fuzz", data[2:])] if len(data) > 2 else []
        return RejectConnection(status_code=status, headers=headers, has_body=finished)
    if kind == "reject_data":
        return RejectData(data, body_finished=finished)
    if kind == "request":
        host = text[:30] or "example.com"
        return Request(
            host=host,
            target="/" + text[30:60],
            subprotocols=[text[60:70]] if flags & FLAG_STR else [],
            extra_headers=[(data[:6], data[6:12])] if flags & 0x04 else [],
        )
    if kind == "request_valid":
        return Request(host="example.com", target="/chat", subprotocols=["chat"])
    if kind == "accept_plain":
        return AcceptConnection()
    if kind == "text_fragment":
        return TextMessage(text, message_finished=False)
    if kind == "bytes_fragment":
        return BytesMessage(data, message_finished=False)
    raise ValueError(kind)


def play_record(
    w: Watcher, record: "formats.Record", buffers: bool, subprotocols: bool, extension: bool
) -> None:
    """Carry out one record of a connection script (fuzz/formats.py) on the Watcher.

    buffers: FEED's arg also picks bytearray or memoryview (a bare Connection takes
    them); subprotocols and extension: what a REPLY record may accept with.
    """
    op = record.op
    if op == formats.OP_FEED:
        w.do_receive(as_buffer(record.data, record.arg % 3) if buffers else record.data)
    elif op == formats.OP_FEED_SPLIT:
        step = record.arg + 1
        for i in range(0, len(record.data), step):
            w.do_receive(record.data[i : i + step])
    elif op == formats.OP_EVENTS:
        w.do_events()
    elif op == formats.OP_EVENTS_SOME:
        w.do_events(record.arg)
    elif op == formats.OP_SEND:
        kind = SEND_KINDS[record.arg % len(SEND_KINDS)]
        w.do_send(make_event(kind, record.flags, record.data, w))
    elif op == formats.OP_DATA_TO_SEND:
        w.do_data_to_send()
    elif op == formats.OP_EOF:
        w.do_receive(None)
    else:
        w.do_reply(subprotocols, extension)


def run_wsconnection(data: bytes) -> Watcher:
    """Config byte 0: client (bit 0), auto_reply (1), whole_messages (2), message limit
    (3-5), frame limit (6-7: none, 125, 1000, 65535). Config byte 1: handshake limit
    (0-1), a bare Connection with no handshake (2), the harness plays the handshake (3),
    the FuzzExtension offered and accepted (4), subprotocols offered (5).
    Body: a script (fuzz/formats.py).
    """
    c0, c1, body = formats.split_config(data)
    client = bool(c0 & 1)
    auto_reply = bool(c0 & 2)
    whole = bool(c0 & 4)
    max_message = MESSAGE_LIMITS[(c0 >> 3) & 7]
    max_frame = (None, 125, 1000, 65535)[c0 >> 6]
    hs_limit = HANDSHAKE_LIMITS[c1 & 3]
    direct = bool(c1 & 4)
    play_handshake = bool(c1 & 8)
    extension = bool(c1 & 0x10)
    subprotocols = ["chat", "superchat"] if c1 & 0x20 else []
    role = ConnectionType.CLIENT if client else ConnectionType.SERVER
    target: WSConnection | Connection
    if direct:
        target = Connection(
            role,
            extensions=[FuzzExtension()] if extension else None,
            max_message_size=max_message,
            max_frame_size=max_frame,
            auto_reply=auto_reply,
            whole_messages=whole,
            random_bytes=fixed_random,
        )
    else:
        target = WSConnection(
            role,
            max_message_size=max_message,
            max_frame_size=max_frame,
            max_handshake_size=hs_limit,
            auto_reply=auto_reply,
            whole_messages=whole,
            random_bytes=fixed_random,
        )
    w = Watcher(
        target,
        client=client,
        auto_reply=auto_reply,
        whole_messages=whole,
        max_message_size=max_message,
        max_handshake_size=None if direct else hs_limit,
        subprotocols=subprotocols,
        extensions=extension,
    )
    if play_handshake and client and not direct:
        exts = [FuzzExtension()] if extension else []
        w.do_send(
            Request(host="example.com", target="/chat", subprotocols=subprotocols, extensions=exts)
        )
    answered_request = False
    for record in formats.parse_records(body):
        play_record(w, record, direct, bool(subprotocols), extension)
        if play_handshake and not answered_request and isinstance(w.last_event, Request):
            answered_request = True
            w.do_reply(bool(subprotocols), extension)
    w.finish()
    return w


# -- the handshake on its own ---------------------------------------------------------------


def reference_request_problem(head: bytes) -> str | None:
    """Why an RFC 6455 §4.2.1 server must refuse this request head, or None.

    Deliberately small and written apart from wsproto_lite: it checks only what any
    acceptable request must have, so a request the core accepts must pass it.
    """
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1":
        return "request line %r" % (lines[0],)
    fields: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return "header line without a colon"
        fields.setdefault(name.lower(), []).append(value.strip(b" \t"))
    if len(fields.get(b"host", [])) != 1:
        return "not exactly one Host"
    tokens = [t.strip(b" \t").lower() for v in fields.get(b"upgrade", []) for t in v.split(b",")]
    if b"websocket" not in tokens:
        return "no Upgrade: websocket"
    tokens = [t.strip(b" \t").lower() for v in fields.get(b"connection", []) for t in v.split(b",")]
    if b"upgrade" not in tokens:
        return "no Connection: upgrade"
    if fields.get(b"sec-websocket-version") != [b"13"]:
        return "version not 13"
    keys = fields.get(b"sec-websocket-key", [])
    if len(keys) != 1:
        return "not exactly one key"
    try:
        if len(base64.b64decode(keys[0], validate=True)) != 16:
            return "key is not 16 bytes"
    except ValueError:
        return "key is not base64"
    return None


def run_handshake_server(data: bytes) -> None:
    """Config byte 0: head limit (bits 0-1), accept the Request (2) or reject it, EOF at
    the end (3), chunking seed (4-7). Config byte 1: accept with the first subprotocol (0),
    with the FuzzExtension (1), auto_reply (2), message limit (3-5), whole_messages (6),
    hand the head to initiate_upgrade_connection() as parsed headers (7).
    Body: a request head, maybe followed by frames.
    """
    c0, c1, body = formats.split_config(data)
    limit = HANDSHAKE_LIMITS[c0 & 3]
    accept = bool(c0 & 4)
    eof = bool(c0 & 8)
    seed = c0 >> 4
    auto_reply = bool(c1 & 4)
    max_message = MESSAGE_LIMITS[(c1 >> 3) & 7]
    whole = bool(c1 & 0x40)
    hs = H11Handshake(
        ConnectionType.SERVER,
        max_handshake_size=limit,
        auto_reply=auto_reply,
        max_message_size=max_message,
        whole_messages=whole,
    )
    state = [hs.state]
    watcher: Watcher | None = None
    request: Request | None = None
    refused = False

    def observe() -> None:
        new = hs.state
        if new is not state[0]:
            check(new in NEXT_STATES[state[0]], "handshake state %r -> %r", state[0], new)
            state[0] = new

    def refuse(exc: RemoteProtocolError) -> None:
        check(isinstance(exc, HandshakeError), "server raised %r, not a HandshakeError", exc)
        assert isinstance(exc, HandshakeError)
        check(exc.status_code in HANDSHAKE_STATUSES, "status %r for %r", exc.status_code, exc)
        hint = exc.event_hint
        check(type(hint) is RejectConnection, "event_hint %r", hint)
        assert isinstance(hint, RejectConnection)
        check(hint.status_code == exc.status_code, "hint %r for %r", hint, exc)
        check(request is None or exc.status_code == 400, "a refusal after the Request: %r", exc)
        out = hs.send(hint)
        check(out.startswith(b"HTTP/1.1 %d " % exc.status_code), "rejection %r", out[:40])
        observe()
        check(hs.state is _S.CLOSED, "state %r after the rejection", hs.state)

    pieces = formats.chunks(seed, body)
    head_end = body.find(b"\r\n\r\n")
    if c1 & 0x80:
        # A framework parsed the head: give its lines to initiate_upgrade_connection().
        head = body[: head_end if head_end >= 0 else len(body)]
        lines = head.split(b"\r\n")
        words = lines[0].split(b" ")
        path = words[1] if len(words) > 1 else b"/"
        headers = [
            tuple(p.strip(b" ") for p in line.split(b":", 1)) for line in lines[1:] if b":" in line
        ]
        try:
            hs.initiate_upgrade_connection(headers, path)  # type: ignore[arg-type]
        except RemoteProtocolError as exc:
            refuse(exc)
            refused = True
        pieces = formats.chunks(seed, body[head_end + 4 :] if head_end >= 0 else b"")
    for piece in pieces + ([None] if eof else []):  # type: ignore[list-item]
        if watcher is not None:
            watcher.do_receive(piece)
            watcher.do_events()
            continue
        try:
            hs.receive_data(piece)
        except RemoteProtocolError as exc:
            check(not refused, "receive_data() raised %r after the refusal", exc)
            refuse(exc)
            refused = True
        observe()
        check_handshake_buffers(hs, limit)
        for event in hs.events():
            check(type(event) is Request, "server handshake gave %r", event)
            check(request is None, "a second Request")
            assert isinstance(event, Request)
            request = event
            if not c1 & 0x80 and head_end >= 0:
                problem = reference_request_problem(body[:head_end])
                check(problem is None, "accepted a request with %s: %r", problem, body[:head_end])
            if refused:
                pass  # refused in the same receive_data() call (frames beyond the limit)
            elif accept:
                sub = event.subprotocols[0] if c1 & 1 and event.subprotocols else None
                exts = [FuzzExtension()] if c1 & 2 else []
                out = hs.send(AcceptConnection(subprotocol=sub, extensions=exts))
                observe()
                keys = [v for n, v in event.extra_headers if n == b"sec-websocket-key"]
                check(len(keys) == 1, "accepted with keys %r", keys)
                check(
                    b"\r\nSec-WebSocket-Accept: " + expected_accept(bytes(keys[0])) + b"\r\n"
                    in out,
                    "wrong accept value in %r",
                    out,
                )
                conn = hs.connection
                check(conn is not None and hs.state is _S.OPEN, "accepted but %r", hs.state)
                assert conn is not None
                watcher = Watcher(
                    conn,
                    client=False,
                    auto_reply=auto_reply,
                    whole_messages=whole,
                    max_message_size=max_message,
                    extensions=bool(conn.extensions),
                )
                watcher.eof_fed = piece is None or hs._eof
                watcher.do_events()
            else:
                out = hs.send(RejectConnection(status_code=403))
                observe()
                check(hs.state is _S.CLOSED, "state %r after rejecting", hs.state)
                refused = True
    if watcher is not None:
        watcher.finish()


def reference_response_problem(head: bytes, key: bytes) -> str | None:
    """Why a client must refuse this 101 response head, or None (RFC 6455 §4.2.2/4.1)."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        return "status line %r" % (lines[0],)
    accepts = [
        line.partition(b":")[2].strip(b" \t")
        for line in lines[1:]
        if line.partition(b":")[0].lower() == b"sec-websocket-accept"
    ]
    if accepts != [expected_accept(key)]:
        return "accept values %r" % (accepts,)
    return None


def run_handshake_client(data: bytes) -> None:
    """Config byte 0: head limit (bits 0-1), rejection body limit (2-3), EOF at the end (4),
    chunking seed (5-7). Config byte 1: subprotocols offered (0-1), the FuzzExtension
    offered (2), auto_reply (3), message limit (4-6), whole_messages (7).
    Body: the server's response, maybe followed by frames or a body.
    """
    c0, c1, body = formats.split_config(data)
    limit = HANDSHAKE_LIMITS[c0 & 3]
    body_limit = REJECT_BODY_LIMITS[(c0 >> 2) & 3]
    eof = bool(c0 & 0x10)
    seed = c0 >> 5
    offered = SUBPROTOCOL_OFFERS[c1 & 3]
    auto_reply = bool(c1 & 8)
    max_message = MESSAGE_LIMITS[(c1 >> 4) & 7]
    whole = bool(c1 & 0x80)
    hs = H11Handshake(
        ConnectionType.CLIENT,
        max_handshake_size=limit,
        max_reject_body_size=body_limit,
        random_bytes=fixed_random,
        auto_reply=auto_reply,
        max_message_size=max_message,
        whole_messages=whole,
    )
    exts = [FuzzExtension()] if c1 & 4 else []
    out = hs.send(
        Request(host="example.com", target="/chat", subprotocols=offered, extensions=exts)
    )
    check(b"\r\nSec-WebSocket-Key: " + CLIENT_KEY + b"\r\n" in out, "key not as injected")
    state = [hs.state]
    watcher: Watcher | None = None
    answered = False
    has_body = False
    finished = False
    body_size = 0
    failed = False

    def observe() -> None:
        new = hs.state
        if new is not state[0]:
            check(new in NEXT_STATES[state[0]], "handshake state %r -> %r", state[0], new)
            state[0] = new

    pieces = formats.chunks(seed, body)
    biggest_feed = max(map(len, pieces), default=0)
    for piece in pieces + ([None] if eof else []):  # type: ignore[operator]
        if watcher is not None:
            watcher.do_receive(piece)
            watcher.do_events()
            continue
        try:
            hs.receive_data(piece)
        except RemoteProtocolError as exc:
            check(not failed, "raised %r after the handshake failed", exc)
            check(type(exc.event_hint) is RejectConnection, "event_hint %r", exc.event_hint)
            check(hs.state is _S.CLOSED, "state %r after %r", hs.state, exc)
            failed = True
        observe()
        check_handshake_buffers(hs, limit, biggest_feed)
        for event in hs.events():
            check(not finished, "%r after the rejection body finished", event)
            if isinstance(event, AcceptConnection):
                check(not answered, "a second answer: %r", event)
                answered = True
                problem = reference_response_problem(body[: body.find(b"\r\n\r\n")], CLIENT_KEY)
                check(problem is None, "accepted a response with %s", problem)
                sub = event.subprotocol
                check(sub is None or sub in offered, "subprotocol %r never offered", sub)
                check(all(any(e is x for x in exts) for e in event.extensions), "odd extension")
                conn = hs.connection
                check(conn is not None and hs.state is _S.OPEN, "accepted but %r", hs.state)
                assert conn is not None
                watcher = Watcher(
                    conn,
                    client=True,
                    auto_reply=auto_reply,
                    whole_messages=whole,
                    max_message_size=max_message,
                    extensions=bool(conn.extensions),
                )
                watcher.do_events()
            elif isinstance(event, RejectConnection):
                check(not answered, "a second answer: %r", event)
                answered = True
                has_body = event.has_body
                check(
                    isinstance(event.status_code, int) and event.status_code != 101,
                    "rejection status %r",
                    event.status_code,
                )
                if not has_body:
                    finished = True
                    check(hs.state is _S.CLOSED, "state %r after a bodiless rejection", hs.state)
            elif isinstance(event, RejectData):
                check(answered and has_body, "RejectData without a rejection body")
                body_size += len(event.data)
                check(
                    body_size <= body_limit,
                    "%d body bytes delivered, limit %d",
                    body_size,
                    body_limit,
                )
                if event.body_finished:
                    finished = True
                    check(hs.state is _S.CLOSED, "state %r after the body", hs.state)
            else:
                raise InvariantBroken("client handshake gave %r" % (event,))
    if watcher is not None:
        watcher.finish()


# -- the accelerator against the pure path ----------------------------------------------------


def speedups_missing() -> str | None:
    """Why run_speedups cannot compare two paths in this process, or None when it can."""
    if SPEEDUPS:
        return None
    if os.environ.get("WSPROTO_LITE_NO_SPEEDUPS"):
        return "WSPROTO_LITE_NO_SPEEDUPS is set, so wsproto_lite runs the pure path too"
    try:
        from wsproto_lite import _speedups  # noqa: F401
    except ImportError as exc:
        return "the C accelerator wsproto_lite._speedups is not built (%s)" % (exc,)
    return "wsproto_lite loaded without its accelerator"


def _norm(value: object) -> object:
    """A value both copies of the package can be compared by: type names, fields, bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (type(value).__name__, bytes(value))
    if isinstance(value, enum.Enum):  # CloseReason, ConnectionState: either copy's members
        return (type(value).__name__, value.name, value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return (type(value).__name__, value)
    fields = getattr(value, "_fields", None)
    if fields is not None:  # an event
        return (type(value).__name__, tuple((f, _norm(getattr(value, f))) for f in fields))
    raise InvariantBroken("cannot compare %r across the two copies" % (value,))


def _seen(value: object) -> object:
    """What a call gave, as both copies can be compared: _norm(result), or the exception."""
    if isinstance(value, Exception):
        return ("raised", type(value).__name__, _scrub(str(value)))
    return ("returned", _norm(value))


def _scrub(message: str) -> str:
    # A default repr holds an address, which differs between the two copies' objects.
    return re.sub(r" at 0x[0-9a-fA-F]+", " at 0x...", message)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + "... (%d characters)" % len(text)


class _Keys:
    """random_bytes for one side: a new mask key at each call, the same on both paths."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return bytes((self.calls * 73 + i * 37 + 11) & 0xFF for i in range(n))


class _Side:
    """One copy of the package and its Connection, with what it was fed."""

    def __init__(self, name: str, pkg: ModuleType, conn: Connection) -> None:
        self.name = name
        self.pkg = pkg
        self.conn = conn
        self.fed: list[tuple[bytes | bytearray | memoryview, bytes]] = []  # buffer, bytes then
        self.events: Iterator[object] = iter(())


class Twins:
    """The same Connection on the accelerated and on the pure path, driven in lockstep.

    Every call goes to both. Its result or exception, then the state and the bytes still
    buffered, must be the same: events type and field by field, payloads and output byte
    for byte. Each side gets its own bytearray or memoryview, and must leave it unchanged.
    """

    def __init__(
        self,
        pure: ModuleType,
        client: bool,
        whole: bool,
        max_frame: int | None,
        max_message: int | None,
        extension: bool,
    ) -> None:
        import wsproto_lite

        self.label = "%s, whole_messages %s%s" % (
            "client" if client else "server",
            "on" if whole else "off",
            ", with the FuzzExtension" if extension else "",
        )
        self.sides = []
        for name, pkg in (("accelerated", wsproto_lite), ("pure", pure)):
            kinds = pkg.connection.ConnectionType
            conn = pkg.connection.Connection(
                kinds.CLIENT if client else kinds.SERVER,
                extensions=[FuzzExtension()] if extension else None,
                max_message_size=max_message,
                max_frame_size=max_frame,
                auto_reply=True,
                whole_messages=whole,
                random_bytes=_Keys(),
            )
            self.sides.append(_Side(name, pkg, conn))
        # Each accelerated state (by id: an Enum's hash is slow) to the pure copy's twin.
        pure_states = pure.connection.ConnectionState
        self.twin_state = {id(s): getattr(pure_states, s.name) for s in ConnectionState}
        self.steps = 0
        # The last steps, for the report: (what, its % args, the accelerated result).
        self.recent: deque[tuple[str, tuple[object, ...], object]] = deque(maxlen=6)

    def _differ(self, what: str, accel: object, pure: object) -> InvariantBroken:
        before = "; ".join(
            "%s: %s" % (w % args, _short(_seen(v))[:120]) for w, args, v in self.recent
        )
        return InvariantBroken(
            "the accelerated and pure paths differ (%s), at step %d, %s:\n"
            "  accelerated %s\n  pure        %s\n  the steps before: %s"
            % (self.label, self.steps + 1, what, _short(accel), _short(pure), before or "none")
        )

    def call(self, fn: "Callable[[_Side], object]", what: str, *args: object) -> "list[object]":
        """fn(side) on both sides: both results, or [] for a documented refusal.

        `what % args` names the step in a report (formatted only then: steps are many).
        """
        values: list[object] = []
        for side in self.sides:
            try:
                values.append(fn(side))
            except Exception as exc:  # compared with the other side's, then re-raised
                values.append(exc)
        accel, pure = values
        # The common results (None, bytes) compare as they are; anything else by _seen().
        if type(accel) is not type(pure) or (accel is not None and type(accel) is not bytes):
            seen = [_seen(v) for v in values]
            if seen[0] != seen[1]:
                errors = [v for v in values if isinstance(v, Exception)]
                raise self._differ(what % args, seen[0], seen[1]) from (
                    errors[0] if errors else None
                )
        elif accel != pure:
            raise self._differ(what % args, _seen(accel), _seen(pure))
        a, p = self.sides[0].conn, self.sides[1].conn
        if self.twin_state[id(a.state)] is not p.state or a.buffered != p.buffered:
            raise self._differ(
                what % args + ", then (state, buffered)",
                (a.state, a.buffered),
                (p.state, p.buffered),
            )
        self.steps += 1
        self.recent.append((what, args, accel))
        if isinstance(accel, Exception):
            if what.startswith("send(") and isinstance(accel, LocalProtocolError):
                return []  # the application's mistake, refused alike on both paths
            raise accel  # a crash on both paths: a bug whatever the accelerator does
        return values

    def state(self) -> "ConnectionState":
        return self.sides[0].conn.state

    def receive(self, piece: "bytes | None", kind: int = 0) -> None:
        def receive_data(side: _Side) -> None:
            if piece is None:
                return side.conn.receive_data(None)
            buf = as_buffer(piece, kind)
            if kind:  # bytes cannot change
                side.fed.append((buf, piece))
            return side.conn.receive_data(buf)

        if piece is None:
            self.call(receive_data, "receive_data(None)")
        else:
            self.call(receive_data, "receive_data(%d bytes as %s)", len(piece), BUFFER_KINDS[kind])

    def drain(self, limit: int | None = None) -> None:
        """Take events (all, or at most `limit`) from both, sending each message back."""
        for side in self.sides:
            side.events = side.conn.events()
        count = 0
        while limit is None or count < limit:
            count += 1
            got = self.call(lambda side: next(side.events, None), "event %d of events()", count)
            if got[0] is None:
                return
            if isinstance(got[0], Message) and self.state() is _S.OPEN:
                self.echo(got)

    def echo(self, got: "list[object]") -> None:
        """Send each side's message back to it, as an echo server or client would."""

        def send(side: _Side) -> bytes:
            event: Message = got[self.sides.index(side)]  # type: ignore[assignment]
            cls = getattr(side.pkg.events, type(event).__name__)  # this side's own class
            return side.conn.send(cls(event.data, message_finished=event.message_finished))

        self.call(send, "send() of that %s back", type(got[0]).__name__)

    def send(self, event: str, *args: object) -> None:
        self.call(
            lambda side: side.conn.send(getattr(side.pkg.events, event)(*args)),
            "send(%s%r)",
            event,
            args,
        )

    def data_to_send(self) -> None:
        self.call(lambda side: side.conn.data_to_send(), "data_to_send()")

    def check_inputs(self) -> None:
        for side in self.sides:
            for buf, original in side.fed:
                check(
                    bytes(buf) == original,
                    "the %s path changed a buffer fed to it (%s): %r, fed as %r",
                    side.name,
                    self.label,
                    buf,
                    original,
                )


BUFFER_KINDS = ("bytes", "bytearray", "memoryview")


def as_sent_by_server(body: bytes) -> bytes:
    """A client's frame stream with each frame's masking flipped: masked frames lose their
    key, unmasked ones get MASK_KEY. What the server sends, faults and all."""
    from fuzz.mutator import join, split_frames

    frames, tail = split_frames(body)
    for frame in frames:
        frame.mask_key = None if frame.mask_key is not None else MASK_KEY
    return join(frames, tail)


def run_speedups(data: bytes) -> None:
    """frames_server's input, fed to a Connection on the accelerated and on the pure path
    (fuzz/pure_core.py) in both roles, whole_messages off and on, auto_reply on: both
    must give the same events, states and bytes out, step by step (class Twins).

    Config byte 0: frame limit (bits 0-2), message limit (3-5), take one event per feed
    instead of all, the rest at the end (6), pieces fed as bytes, bytearray and
    memoryview in turn (7). Config byte 1: the FuzzExtension, which claims RSV1, when any
    of bits 0-2 is set (the RSV bits frames_server allows), chunking seed (3-7). Body: a
    client's frames (masked); the client role reads them as_sent_by_server(). Each
    message is sent back as it arrives; at the end we close with 1000, then EOF.
    """
    problem = speedups_missing()
    if problem is not None:
        raise RuntimeError("nothing to compare the pure path with: " + problem)
    from fuzz.pure_core import load_pure

    pure = load_pure()
    c0, c1, body = formats.split_config(data)
    max_frame = FRAME_LIMITS[c0 & 7]
    max_message = MESSAGE_LIMITS[(c0 >> 3) & 7]
    lazy = bool(c0 & 0x40)
    buffer_kinds = bool(c0 & 0x80)
    extension = bool(c1 & 7)
    seed = c1 >> 3
    for client in (False, True):
        wire = as_sent_by_server(body) if client else body
        for whole in (False, True):
            twins = Twins(pure, client, whole, max_frame, max_message, extension)
            for i, piece in enumerate(formats.chunks(seed, wire)):
                twins.receive(piece, i % 3 if buffer_kinds else 0)
                twins.drain(1 if lazy else None)
                twins.data_to_send()
            twins.drain()
            twins.send("CloseConnection", 1000, "bye")
            twins.receive(None)
            twins.drain()
            twins.data_to_send()
            twins.check_inputs()


TARGETS = {
    "frames_server": lambda data: run_frame_parser(data, True),
    "frames_client": lambda data: run_frame_parser(data, False),
    "handshake_server": run_handshake_server,
    "handshake_client": run_handshake_client,
    "wsconnection": run_wsconnection,
    "deflate": lambda data: _run_deflate(data),
    "speedups": run_speedups,
}


def _run_deflate(data: bytes) -> object:
    from fuzz.deflate_oracle import run_deflate  # it builds on this module

    return run_deflate(data)
