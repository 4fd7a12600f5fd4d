"""The post-handshake connection: the only place a connection's state changes.

Bytes in (receive_data) give events out (events); events in (send) give bytes out.
Replies that receiving produces (pong, close echo, the close frame of a failed
connection) wait in an outbox, data_to_send(), when automatic replies are on.
"""

from ._compat import (
    HAVE_ENUM,
    TYPE_CHECKING,
    Enum,
    _State,
    const,
    default_random_bytes,
    own_defaults,
)
from .errors import InvalidUTF8, LocalProtocolError, MessageTooBig, RemoteProtocolError
from .events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    TextMessage,
)
from .extensions import PerMessageDeflate, RsvBits
from .frames import (
    _C,
    CloseReason,
    FrameParser,
    _encode,
    _mask_small,
    encode_close_payload,
    encode_frame,
    encode_text,
    flat,
    lenient_close,
    parse_close_payload,
)
from .utf8 import Utf8Decoder, decode_utf8

if TYPE_CHECKING:
    from typing import Any, Iterator, List, Optional, Sequence, Union

    from ._compat import RandomBytes
    from .events import Event


def _extension_error(code: int, where: str) -> RemoteProtocolError:
    message = "extension refused the frame %s (close code %d)" % (where, code)
    if code == 1009:
        return MessageTooBig(message)
    # 1007 from an extension is bad data of its own (a corrupt deflate stream), not bad
    # UTF-8: a ProtocolViolation that carries the code, not a Utf8Violation.
    return RemoteProtocolError(message, ProtocolViolation(code, message))


if TYPE_CHECKING or HAVE_ENUM:

    class ConnectionType(Enum):
        """Which end of the connection we are."""

        CLIENT = 1
        SERVER = 2

    class ConnectionState(Enum):
        """The life of a connection; it only ever moves forward.

        CONNECTING and REJECTING belong to the handshake (see WSConnection). OPEN until a
        close frame is sent (LOCAL_CLOSING) or received (REMOTE_CLOSING, also after a
        violation while our close is still owed); CLOSED once both are done, or the
        transport hit EOF. Compare states with `is`.
        """

        CONNECTING = 0
        OPEN = 1
        REMOTE_CLOSING = 2
        LOCAL_CLOSING = 3
        CLOSED = 4
        REJECTING = 5

else:  # MicroPython: no enum; named constants compared with `is` all the same

    class ConnectionType:
        CLIENT = _State("ConnectionType", "CLIENT", 1)
        SERVER = _State("ConnectionType", "SERVER", 2)

    class ConnectionState:
        CONNECTING = _State("ConnectionState", "CONNECTING", 0)
        OPEN = _State("ConnectionState", "OPEN", 1)
        REMOTE_CLOSING = _State("ConnectionState", "REMOTE_CLOSING", 2)
        LOCAL_CLOSING = _State("ConnectionState", "LOCAL_CLOSING", 3)
        CLOSED = _State("ConnectionState", "CLOSED", 4)
        REJECTING = _State("ConnectionState", "REJECTING", 5)


# wsproto's module-level aliases of the two roles.
CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER

_OPEN = ConnectionState.OPEN
_LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED

# max_message_size's default, "the library's": Connection.max_message_size, 1 MiB, or
# None (wsproto's, no limit) once install_as_wsproto() ran.
DEFAULT = -1

_AUTO_REPLY = const(1)
_WHOLE_MESSAGES = const(2)
_STRICT_CLOSE = const(4)

# The reason of the 1009 close when a message cannot be held (a MemoryError).
_NO_MEMORY = "out of memory for the message"

# RFC 6455 §7.1.5: the close code of a connection that ended without a close frame; a
# CloseReason member where enum exists, as wsproto hands out (`code is ABNORMAL_CLOSURE`).
_ABNORMAL = CloseReason.ABNORMAL_CLOSURE

# Connection's per-instance state read on every event or send: CPython gets its own copy
# (see _compat.own_defaults); the rest (limits and extension state, the decoder, the mask
# keys, which a client sets at its first send) stays a class attribute until set.
_CONNECTION_STATE = (
    "client",
    "_extensions",
    "_options",
    "_state",
    "_draining",
    "_outbox",
    "_in_text",
    "_parts",
    "_sending",
)


class _Parser(FrameParser):
    stream_payload = True  # data frames are taken piece by piece as they arrive


class Connection:
    """A WebSocket connection after the opening handshake: frames only.

    Args:
        connection_type: ConnectionType.CLIENT (masks what it sends, refuses masked
            frames) or ConnectionType.SERVER (the reverse).
        extensions: negotiated extensions (from the handshake).
        trailing_data: bytes that arrived after the handshake, parsed at once.
        max_message_size: payload bytes one message may have; None for no limit. By
            default 1 MiB; None (wsproto's default) once install_as_wsproto() ran, since
            the programs written for wsproto hold messages to limits of their own.
        max_frame_size: payload bytes one frame may have; None means max_message_size.
        auto_reply: answer pings with pongs, echo the peer's close, and send the close
            frame of a failed connection by ourselves, into data_to_send(). Off by
            default, as in wsproto.
        whole_messages: deliver each message as one event instead of a piece per
            frame (and per network read) as wsproto does.
        random_bytes: where mask keys come from; defaults to os.urandom.
        strict_close: sending a close code that may not go on the wire (1006, 1015) or a
            reason over 123 bytes of UTF-8 raises LocalProtocolError. Off by default:
            as wsproto, 1006 and 1015 are sent as 1000 and the reason is cut at a
            character boundary (which can hide a server error behind a normal close,
            wsproto#182; transports turn it on).
    """

    # Starting values, as class attributes until changed (see _compat.own_defaults): an
    # idle server connection on MicroPython holds a handful of attributes, not twenty.
    client = False
    _extensions: "Sequence[Any]" = ()
    max_message_size: "Optional[int]" = 1 << 20
    _options = 0  # _AUTO_REPLY | _WHOLE_MESSAGES | _STRICT_CLOSE
    _random_bytes: "Optional[RandomBytes]" = None  # None: os.urandom, 64 keys a call
    _key_pool = b""
    _key_pos = 0
    _state = _OPEN
    _draining = False  # EOF came; buffered frames are still to be delivered
    _outbox = b""
    _frame_started = False  # a data frame's first piece went through the extensions
    _extended_size = 0  # bytes the extensions made of the message so far
    _deflate: "Optional[PerMessageDeflate]" = None  # when it is the only extension
    _decoder: "Optional[Utf8Decoder]" = None  # made at the first streamed text frame
    _in_text = False  # a text message is under way in pieces (fragments, or streamed)
    # pieces of a message in whole_messages mode: a bytearray (binary) or a list of str
    _parts: "Optional[Any]" = None
    _sending: "Optional[int]" = None  # opcode of a fragmented message being sent

    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: "Optional[Sequence[Any]]" = None,
        trailing_data: bytes = b"",
        max_message_size: "Optional[int]" = DEFAULT,
        max_frame_size: "Optional[int]" = None,
        auto_reply: bool = False,
        whole_messages: bool = False,
        random_bytes: "Optional[RandomBytes]" = None,
        strict_close: bool = False,
    ) -> None:
        if connection_type is not ConnectionType.CLIENT and (
            connection_type is not ConnectionType.SERVER
        ):
            raise TypeError("connection_type is ConnectionType.CLIENT or .SERVER")
        own_defaults(self, _CONNECTION_STATE)
        # Only what differs from the class defaults is stored (MicroPython's memory).
        if connection_type is ConnectionType.CLIENT:
            self.client = True
        # As in wsproto: only enabled extensions take part.
        enabled = [ext for ext in extensions or () if ext.enabled()]
        if enabled:
            self._extensions = tuple(enabled)  # a tuple: 40 bytes less than a list
            if len(enabled) == 1 and type(enabled[0]) is PerMessageDeflate:
                self._deflate = enabled[0]  # called directly, not through the hooks
        if max_message_size == DEFAULT:
            max_message_size = Connection.max_message_size
        elif max_message_size != Connection.max_message_size:
            self.max_message_size = max_message_size
        options = (_AUTO_REPLY if auto_reply else 0) | (_WHOLE_MESSAGES if whole_messages else 0)
        if strict_close:
            options |= _STRICT_CLOSE
        if options:
            self._options = options
        # An injected random_bytes is asked for each key, so tests see exactly the keys
        # they give; os.urandom is a system call, so by default one call draws 64 keys
        # (about 5x cheaper per frame, benchmarks/core.py "client send 16 B").
        if random_bytes is not None:
            self._random_bytes = random_bytes
        # max_frame_size None: the message limit bounds every frame already. The parser
        # holds the limits on the wire; what extensions make of a message is held to
        # max_message_size exactly (_extensions_inbound). A compressing extension that
        # holds the message limit itself (PerMessageDeflate) lifts the wire limit: a
        # compressed message's wire size says little (a sync flush per fragment adds 5
        # bytes of nothing, an incompressible one grows a little), and the parser hands
        # data frames out in pieces, so nothing is buffered beyond one read meanwhile.
        wire_limit = max_message_size
        for ext in self._extensions:
            if getattr(ext, "_holds_message_limit", False):
                wire_limit = None
        self._parser = _Parser(
            expect_mask=not self.client,
            max_frame_size=max_frame_size,
            max_message_size=wire_limit,
            allowed_rsv=7 if self._extensions else 0,  # then the extensions must claim them
            # Whole binary messages are unmasked straight into one buffer by the parser.
            assemble=whole_messages and not self._extensions,
        )
        if trailing_data:
            self.receive_data(trailing_data)

    @property
    def auto_reply(self) -> bool:
        """Whether pongs, the close echo and a failure's close frame go to data_to_send()."""
        return bool(self._options & _AUTO_REPLY)

    @property
    def whole_messages(self) -> bool:
        """Whether each message comes as one event (else a piece per frame and read)."""
        return bool(self._options & _WHOLE_MESSAGES)

    @property
    def strict_close(self) -> bool:
        """Whether a close code or reason that cannot be sent as given raises (else fixed)."""
        return bool(self._options & _STRICT_CLOSE)

    @property
    def extensions(self) -> "List[Any]":
        """The extensions taking part (those enabled), in the order negotiated."""
        return list(self._extensions)

    @property
    def connection_type(self) -> ConnectionType:
        """ConnectionType.CLIENT or ConnectionType.SERVER."""
        return ConnectionType.CLIENT if self.client else ConnectionType.SERVER

    @property
    def state(self) -> ConnectionState:
        """The current ConnectionState."""
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes received and not parsed yet: what events() has still to look at.

        A transport that stops pulling events (the application is not reading) pauses
        reading the socket once this passes its high-water mark.
        """
        return self._parser.buffered

    @property
    def due(self) -> int:
        """Bytes still to come before the frame being received is complete, as far as
        its header says (0 between frames): a transport's hint to read more at once.

        Never more than the frame and message limits allow (a header over them fails
        the connection instead), so a read of this size is bounded by them.
        """
        return self._parser.due

    # -- receiving ---------------------------------------------------------------------

    def receive_data(self, data: "Optional[Union[bytes, bytearray, memoryview]]") -> None:
        """Feed bytes from the network; None means the transport saw EOF.

        Only buffers: frames are parsed as events() hands them out, so the application
        can still answer a message that arrived just before a close or a violation.
        Bytes after the peer's close frame or a violation are not parsed. EOF sets the
        state to CLOSED at once (as in wsproto). Bytes in state CLOSED raise
        LocalProtocolError, as in wsproto, unless auto_reply is on: then the core
        reached CLOSED by itself (it echoed the close), and bytes the peer sent before
        seeing that are dropped. EOF again is always ignored.
        """
        state = self._state
        if state is _CLOSED and data is not None and not self._options & _AUTO_REPLY:
            raise LocalProtocolError("Connection already closed.")
        if data is None:
            # As in wsproto, EOF closes at once; frames already buffered are still
            # delivered by events(), then CloseConnection(1006) if no close came.
            if state is _OPEN or state is _LOCAL_CLOSING:
                self._draining = True
            self._state = _CLOSED
        elif state is _OPEN or state is _LOCAL_CLOSING:
            try:
                self._parser.feed(data)
            except MemoryError:
                # These bytes are lost, so the stream cannot go on: the next event is
                # the 1009 failure (its close frame is built once this read is freed).
                self._parser._error = MessageTooBig(_NO_MEMORY)

    def events(self) -> "Iterator[Event]":
        """Parse what receive_data() buffered and give its events, oldest first.

        Never raises for peer misbehaviour: a violation event comes instead (with our
        close frame already in data_to_send() when auto_reply is on), and parsing stops.
        State changes as each event is handed out; each event is given once.
        """
        next_event = self.next_event
        while True:
            event = next_event()
            if event is None:
                return
            yield event

    def next_event(self) -> "Optional[Event]":
        """The next event, or None until more bytes arrive: events() one at a time.

        For transports that pull one event per turn; it builds no generator.
        """
        next_frame = self._parser._next
        while True:
            state = self._state
            if state is not _OPEN and state is not _LOCAL_CLOSING and not self._draining:
                return None
            try:
                frame = next_frame()
                if not frame:
                    if frame is not None:
                        continue  # a fragment went into the message being assembled
                    if self._draining:
                        # RFC 6455 §7.1.5: no close frame received, the close code is 1006.
                        self._draining = False
                        self._parts = None
                        self._parser.drop_message()
                        return CloseConnection(_ABNORMAL)
                    return None
                opcode, payload, fin, rsv, done = frame
                if self._extensions:
                    payload = self._extensions_inbound(opcode, payload, fin, rsv, done)
                if fin and done and opcode and self._parts is None and not self._in_text:
                    # A message in one frame that came whole, the common case kept short
                    # (and without a decoder kept per connection for its text).
                    if opcode == 2:
                        return BytesMessage(payload)
                    if opcode == 1:
                        try:
                            return TextMessage(decode_utf8(payload))
                        except UnicodeError:
                            raise InvalidUTF8("text message is not valid UTF-8") from None
                if opcode < 8:
                    event = self._receive_data_frame(opcode, payload, fin, done)
                    if event is not None:
                        return event
                elif opcode == 9:
                    if self._options & _AUTO_REPLY and state is _OPEN:
                        self._outbox += self._frame(10, payload)
                    return Ping(payload)
                elif opcode == 10:
                    return Pong(payload)
                else:
                    return self._receive_close(payload)
            except RemoteProtocolError as exc:
                return self._fail(exc)
            except MemoryError:
                # DESIGN §4: memory is an input like any other. What the message held
                # goes first, so the close frame (1009) can be built from what it frees.
                frame = payload = None
                self._parts = None
                self._parser.drop_message()
                return self._fail(MessageTooBig(_NO_MEMORY))

    def _extensions_inbound(
        self, opcode: int, payload: bytes, fin: bool, rsv: int, done: bool
    ) -> bytes:
        # wsproto's Extension hooks; any RSV bit no extension claims fails (RFC 6455 §5.2).
        if opcode >= 8:
            if rsv:
                raise RemoteProtocolError("RSV bits set on a control frame")
            return payload
        first = not self._frame_started
        # The whole frame's payload length, at its first piece (what its header announced).
        length = len(payload) + (0 if done else self._parser.remaining) if first else 0
        deflate = self._deflate
        if deflate is not None:
            self._frame_started = not done
            return deflate._inbound(self, opcode, payload, fin, rsv, done, first, length)
        if first:
            claimed = 0
            for ext in self._extensions:
                result = ext.frame_inbound_header(self, opcode, RsvBits.from_int(rsv), length)
                if isinstance(result, int):
                    raise _extension_error(result, "header")
                claimed |= result.to_int()
            if rsv & ~claimed:
                raise RemoteProtocolError("RSV bits 0x%x set without an extension" % rsv)
        self._frame_started = not done
        for ext in self._extensions:
            out = ext.frame_inbound_payload_data(self, payload)
            if isinstance(out, int):
                raise _extension_error(out, "payload")
            payload = out
        if done:
            for ext in self._extensions:
                tail = ext.frame_inbound_complete(self, fin)
                if isinstance(tail, int):
                    raise _extension_error(tail, "frame end")
                if tail:
                    payload = bytes(payload) + bytes(tail)
        # The parser checked the bytes on the wire; what an extension makes of them (a
        # decompressor's output) must keep to the message limit too (websockets#1715).
        limit = self.max_message_size
        if limit is not None:
            size = self._extended_size + len(payload)
            if size > limit:
                raise MessageTooBig("message over %d bytes after %s" % (limit, "extensions"))
            self._extended_size = 0 if (fin and done) else size
        return payload

    def _receive_data_frame(
        self, opcode: int, payload: bytes, fin: bool, done: bool
    ) -> "Optional[Message]":
        last = fin and done
        if opcode:  # a message's first frame says its type; continuations keep it
            self._in_text = opcode == 1
        text = self._in_text
        if text:
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = Utf8Decoder()
            try:
                data: Any = decoder.decode(payload, last)
            except UnicodeError:
                decoder.reset()
                raise InvalidUTF8("text message is not valid UTF-8") from None
            if last:
                self._in_text = False  # so the next whole text frame takes the short way
        else:
            data = payload
        if not self._options & _WHOLE_MESSAGES:
            if text:
                return TextMessage(data, done, last)
            return BytesMessage(data, done, last)
        # The message so far in one bytearray, binary or text: for text the bytes the
        # decoder has validated (its str pieces are dropped), decoded once at the end.
        # One buffer, not a list of pieces, so memory stays near the message limit
        # whatever the fragmentation (a million 1-byte fragments: one 1 MiB buffer, not
        # a million str objects).
        parts = self._parts
        if not last:
            if parts is None:
                self._parts = bytearray(payload)
            else:
                parts += payload
            return None
        if parts is not None:
            parts += payload
            self._parts = None
            # Valid UTF-8 by now (the decoder saw every byte, final included).
            data = str(parts, "utf-8") if text else bytes(parts)
        if text:
            return TextMessage(data)
        return BytesMessage(data)

    def _receive_close(self, payload: bytes) -> CloseConnection:
        code, reason = parse_close_payload(payload)
        self._parts = None
        self._parser.drop_message()
        if self._draining:  # the close came before the EOF: too late to answer it
            self._draining = False
        elif self._state is _LOCAL_CLOSING:
            self._state = _CLOSED
        elif self._options & _AUTO_REPLY:
            self._outbox += self._frame(8, encode_close_payload(code, reason))
            self._state = _CLOSED
        else:
            self._state = _REMOTE_CLOSING
        return CloseConnection(code, reason)

    def _fail(self, exc: RemoteProtocolError) -> ProtocolViolation:
        """RFC 6455 §7.1.7: report the violation, send our close if we still may, stop."""
        event = exc.event_hint
        assert isinstance(event, ProtocolViolation)
        self._parts = None
        self._parser.drop_message()
        if self._draining:
            self._draining = False
        elif self._state is _LOCAL_CLOSING:
            self._state = _CLOSED
        elif self._options & _AUTO_REPLY:
            response = event.response()
            self._outbox += self._frame(8, encode_close_payload(response.code, response.reason))
            self._state = _CLOSED
        else:
            self._state = _REMOTE_CLOSING
        return event

    def data_to_send(self) -> bytes:
        """Drain the bytes that receiving produced (only with auto_reply)."""
        out = self._outbox
        if out:
            self._outbox = b""
        return out

    # -- sending -----------------------------------------------------------------------

    def _frame(
        self, opcode: int, payload: "Union[bytes, bytearray, memoryview]", fin: bool = True
    ) -> bytes:
        rsv = 0
        if self._deflate is not None and opcode < 8:
            rsv, payload = self._deflate._outbound(self, opcode, payload, fin)
        elif self._extensions and opcode < 8:
            bits = RsvBits()
            # Outbound in reverse order, so the first extension is the outermost (wsproto).
            for ext in reversed(self._extensions):
                bits, payload = ext.frame_outbound(self, opcode, bits, bytes(payload), fin)
            rsv = bits.to_int()
        if self.client:
            return encode_frame(opcode, payload, fin, rsv, self._mask_key())
        return encode_frame(opcode, payload, fin, rsv)

    def _mask_key(self) -> bytes:
        pos = self._key_pos
        if pos >= len(self._key_pool):
            self._new_key_pool()
            pos = 0
        self._key_pos = pos + 4
        return self._key_pool[pos : pos + 4]

    def _new_key_pool(self) -> bytes:
        source = self._random_bytes
        if source is None:
            pool = self._key_pool = default_random_bytes(256)
        else:
            pool = self._key_pool = source(4)
        return pool

    def send(self, event: "Event") -> bytes:
        """Serialise an event to bytes for the network.

        A Message with str data is text, with bytes-like data binary (whatever its class);
        message_finished=False sends a fragment and the next Message continues it. Any
        bytes waiting in data_to_send() come first, so nothing is ever reordered.

        Raises LocalProtocolError when the event cannot be sent in this state (data after
        our close frame, anything once CLOSED) or is malformed; the state is then unchanged.
        """
        state = self._state
        if isinstance(event, Message):
            if state is not _OPEN:
                raise LocalProtocolError("cannot send data in state %r" % (state,))
            data = event.data
            if isinstance(data, str):
                opcode = 1
                payload: Union[bytes, bytearray, memoryview] = encode_text(data)
            else:
                opcode = 2
                payload = data if type(data) is bytes else flat(data)  # len() in bytes
            fin = event.message_finished
            sending = self._sending
            if sending is None and fin and not self._extensions and len(payload) < 126:
                # The common case inline: about 30% of a small send (benchmarks/core.py).
                if self.client:
                    pos = self._key_pos
                    pool = self._key_pool
                    if pos >= len(pool):
                        pool = self._new_key_pool()
                        pos = 0
                    self._key_pos = pos + 4
                    key = pool[pos : pos + 4]
                    if _C is not None:  # the accelerator's encoder: one call, one buffer
                        out = _encode(0x80 | opcode, payload, key)
                    else:
                        out = (
                            bytes((0x80 | opcode, 0x80 | len(payload)))
                            + key
                            + _mask_small(payload, int.from_bytes(key, "little"))
                        )
                else:
                    out = bytes((0x80 | opcode, len(payload))) + payload
            else:
                if sending is not None:
                    if sending != opcode:
                        raise LocalProtocolError("a fragmented message cannot change type")
                    opcode = 0
                out = self._frame(opcode, payload, fin)
                if not fin or sending is not None:
                    self._sending = None if fin else (sending if sending is not None else opcode)
        elif isinstance(event, CloseConnection):
            if state is not _OPEN and state is not _REMOTE_CLOSING:
                raise LocalProtocolError("cannot send a close frame in state %r" % (state,))
            if self._options & _STRICT_CLOSE:
                payload = encode_close_payload(event.code, event.reason)
            else:
                payload = encode_close_payload(*lenient_close(event.code, event.reason))
            out = self._frame(8, payload)
            self._state = _LOCAL_CLOSING if state is _OPEN else _CLOSED
        elif isinstance(event, (Ping, Pong)):
            if state is not _OPEN:
                raise LocalProtocolError("cannot send a ping or pong in state %r" % (state,))
            out = self._frame(9 if isinstance(event, Ping) else 10, event.payload)
        else:
            raise LocalProtocolError("cannot send %r on an open connection" % (event,))
        if self._outbox:
            out = self.data_to_send() + out
        return out

    def __repr__(self) -> str:
        return "<Connection %s %r>" % ("client" if self.client else "server", self._state)


__all__ = [
    "CLIENT",
    "DEFAULT",
    "SERVER",
    "Connection",
    "ConnectionState",
    "ConnectionType",
    "MessageTooBig",
]
