"""The permessage-deflate harness's invariants: a Connection with PerMessageDeflate enabled.

run_deflate() negotiates permessage-deflate between two PerMessageDeflate objects through
their public offer()/accept()/finalize(), gives one of them to the Connection under test
(either role) and drives it with a script (fuzz/formats.py), as the wsconnection harness
does: peer bytes, EOF, event drains, application sends. On top of the Watcher's checks
(fuzz/oracles.py) it checks:

1. peer bytes give events, or a 1002/1007/1009 violation, never another exception;
2. a message handed out never holds more than max_message_size inflated bytes (also
   while whole_messages collects it);
3. what the connection sends compressed has RSV1 on a message's first frame only,
   inflates with plain zlib, using the negotiated window and a fresh inflater per message
   where no context takeover was agreed, to exactly what send() took; and a second
   Connection of the peer's role and with the same limit gets the same messages back;
4. what the peer sent is judged again by a reference model written apart from the core
   (reference_inbound: zlib and the frame parser): the complete messages must be the
   ones the connection handed out, a valid stream must give no violation, and a bad one
   (garbage, a truncated block, a bomb, RSV1 on a continuation or control frame, data
   after the final block, bad UTF-8 once inflated) must end in the close code the model
   expects; the state never goes backward (the Watcher).

No pytest and no atheris here.
"""

import codecs
import zlib

from fuzz import formats
from fuzz.oracles import (
    InvariantBroken,
    Watcher,
    _check_close_payload,
    check,
    fixed_random,
    play_record,
)
from wsproto_lite.connection import Connection, ConnectionType
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import (
    CloseConnection,
    Message,
    ProtocolViolation,
    SizeViolation,
    TextMessage,
    Utf8Violation,
)
from wsproto_lite.extensions import PerMessageDeflate
from wsproto_lite.frames import FrameParser

# Config byte 0 bits 3-5: the connection's max_message_size.
DEFLATE_LIMITS = (0, 1, 125, 1000, 16384, 65536, 1 << 20, None)
# Config byte 1 bits 2-3 and 4-5: the window sizes the client asks for.
WINDOW_BITS = (None, 8, 11, 15)
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1
_PV = ProtocolViolation
_STOP = None  # the reference stops judging here (a close frame): any ending is fine


class HookedDeflate(PerMessageDeflate):
    """PerMessageDeflate through wsproto's Extension hooks: the Connection drives only an
    exact PerMessageDeflate directly, any subclass through frame_inbound_*/frame_outbound."""

    __slots__ = ()


def negotiate(
    c1: int, level: int, hooked: bool, cls: "type | None" = None
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """(client's, server's) extension, agreed through offer(), accept() and finalize().

    cls: the extension class to make them of (another copy of the package's
    PerMessageDeflate, tests/test_speedups.py); by default PerMessageDeflate, or
    HookedDeflate when `hooked`.

    Config byte 1: client_no_context_takeover asked by the client (bit 0),
    server_no_context_takeover asked by the client (1), client_max_window_bits (2-3) and
    server_max_window_bits (4-5) asked by the client, client_no_context_takeover (6) and
    server_no_context_takeover (7) imposed by the server.
    """
    if cls is None:
        cls = HookedDeflate if hooked else PerMessageDeflate
    client = cls(
        client_no_context_takeover=bool(c1 & 1),
        client_max_window_bits=WINDOW_BITS[(c1 >> 2) & 3],
        server_no_context_takeover=bool(c1 & 2),
        server_max_window_bits=WINDOW_BITS[(c1 >> 4) & 3],
        compress_level=level,
    )
    server = cls(
        client_no_context_takeover=bool(c1 & 0x40),
        server_no_context_takeover=bool(c1 & 0x80),
        compress_level=level,
    )
    offer = client.offer()
    check(type(offer) is str, "offer() gave %r where zlib works", offer)
    assert isinstance(offer, str)
    answer = server.accept("permessage-deflate" + ("; " + offer if offer else ""))
    check(type(answer) is str, "accept() declined our own offer %r: %r", offer, answer)
    assert isinstance(answer, str)
    client.finalize("permessage-deflate" + ("; " + answer if answer else ""))
    check(client.enabled() and server.enabled(), "negotiated but not enabled")
    agreed = [
        (e.client_no_context_takeover, e.server_no_context_takeover)
        + (e.client_max_window_bits, e.server_max_window_bits)
        for e in (client, server)
    ]
    check(
        agreed[0] == agreed[1],
        "the two ends disagree: %r (offer %r, answer %r)",
        agreed,
        offer,
        answer,
    )
    cnct, snct, cbits, sbits = agreed[0]
    check(cnct >= bool(c1 & 0x41) and snct >= bool(c1 & 0x82), "no context takeover lost")
    for asked, got in (((c1 >> 2) & 3, cbits), ((c1 >> 4) & 3, sbits)):
        bits = WINDOW_BITS[asked]
        check(got <= (bits or 15), "window of %d bits where %r was asked", got, bits)
    return client, server


def inflater_bits(bits: int) -> int:
    # zlib deflates a raw stream with a 9-bit window when asked for 8 (madler/zlib#171),
    # so an 8-bit agreement is read with a 9-bit window, as zlib-based peers need.
    return 9 if bits == 8 else bits


def _inflate(d: "zlib._Decompress", data: bytes, room: int | None) -> bytes:
    """Inflate `data`, stopping once more than `room` bytes came (None: no limit)."""
    if room is None:
        return d.decompress(data)
    out = d.decompress(data, room + 1)
    while len(out) <= room and d.unconsumed_tail:
        out += d.decompress(d.unconsumed_tail, room + 1 - len(out))
    return out


def _output_before_error(d: "zlib._Decompress", data: bytes) -> bytes:
    """What `d` gives for `data` fed a byte at a time, up to the byte zlib refuses."""
    out = b""
    for i in range(len(data)):
        try:
            out += d.decompress(data[i : i + 1])
        except zlib.error:
            break
    return out


def _utf8_fails(decoder: "codecs.IncrementalDecoder", data: bytes, final: bool) -> bool:
    try:
        decoder.decode(data, final)
    except UnicodeDecodeError:
        return True
    return False


class Reference:
    """What the peer's bytes must give: complete messages, then how it must end."""

    def __init__(self) -> None:
        self.messages: list[tuple[bool, bytes]] = []  # (text, payload) of whole messages
        # None: judging stopped (a close frame); empty: no violation may come; else the
        # (violation type, close code) pairs the connection may end with.
        self.verdict: "set[tuple[type, int]] | None" = set()
        self.why = ""


def reference_inbound(
    wire: bytes,
    *,
    client: bool,
    limit: int | None,
    wire_limit: int | None,
    peer_bits: int,
    peer_no_takeover: bool,
    header_limit: bool = True,
) -> Reference:
    """Judge the peer's bytes without the core's inflater: the core's frame parser (the
    frame harnesses check it) with the connection's wire limit, then plain zlib.

    A compressed message inflates as its payloads plus 00 00 ff ff; zlib must accept
    them, the inflater must sit between blocks at the message's end, and after a final
    block at most one 0x00 byte may follow. Its inflated size, like an uncompressed
    message's size, is held to `limit`. Where several faults are in one frame, any of
    them may win (the core judges pieces as they arrive, zlib's output a piece at a time),
    so the verdict is a set.
    """
    ref = Reference()
    parser = FrameParser(
        expect_mask=not client, max_message_size=wire_limit, allowed_rsv=7, stream_payload=True
    )
    parser.feed(wire)
    inflater: "zlib._Decompress | None" = None
    in_frame = False
    compressed = False
    fed = False  # a compressed byte of this message came
    text = False
    size = 0
    parts: list[bytes] = []
    after_final = b""  # compressed bytes after the final block, in this message
    decoder = codecs.getincrementaldecoder("utf-8")()

    def fail(*pairs: "tuple[type, int]", why: str) -> Reference:
        ref.verdict = set(pairs)
        ref.why = why
        return ref

    while True:
        try:
            frame = parser.next_frame()
        except RemoteProtocolError as exc:
            kind = SizeViolation if exc.code == 1009 else _PV
            return fail((kind, exc.code), why="frame parser: %s" % exc)
        if frame is None:
            return ref
        opcode, payload, fin, rsv, done = (
            frame.opcode,
            frame.payload,
            frame.fin,
            frame.rsv,
            frame.frame_finished,
        )
        first = not in_frame
        in_frame = not done
        if opcode >= 8:
            if rsv:
                return fail((_PV, 1002), why="RSV on a control frame")
            if opcode == 8:
                ref.verdict = _STOP
                return ref
            continue
        if first and opcode:
            if rsv & 3:
                return fail((_PV, 1002), why="RSV2/RSV3")
            compressed = rsv == 4
            fed = False
            text = opcode == 1
            size = 0
            parts = []
            after_final = b""
            decoder = codecs.getincrementaldecoder("utf-8")()
        elif first and rsv:
            return fail((_PV, 1002), why="RSV on a continuation")
        last = fin and done
        room = None if limit is None else limit - size
        if not compressed:
            out = payload
            announced = len(payload) + (0 if done else parser.remaining)
            if header_limit and first and room is not None and announced > room:
                # An uncompressed frame is held to the limit by its header's length, as
                # soon as its first piece arrives (the wire limit is lifted with deflate);
                # through wsproto's hooks only what the hooks hand back is counted.
                return fail((SizeViolation, 1009), why="size announced")
            if room is not None and len(out) > room:
                utf8 = text and _utf8_fails(decoder, out[:room], False)
                return fail(
                    (SizeViolation, 1009), *([(Utf8Violation, 1007)] if utf8 else []), why="size"
                )
        else:
            data = payload
            if payload:
                fed = True
            if last and fed:
                data += TAIL
            out = b""
            if data:
                if inflater is None:
                    inflater = zlib.decompressobj(-peer_bits)
                if inflater.eof:
                    after_final += data
                else:
                    before = inflater.copy()
                    try:
                        out = _inflate(inflater, data, room)
                    except zlib.error:
                        got = _output_before_error(before, data)
                        if room is not None and len(got) > room:
                            got = got[: room + 1]
                        utf8 = text and _utf8_fails(decoder, got[:room], False)
                        pairs = [(_PV, 1007)] + ([(Utf8Violation, 1007)] if utf8 else [])
                        if room is not None and len(got) > room:
                            pairs.append((SizeViolation, 1009))
                        return fail(*pairs, why="corrupt stream")
                    if room is not None and len(out) > room:
                        utf8 = text and _utf8_fails(decoder, out[:room], False)
                        pairs = [(SizeViolation, 1009)]
                        return fail(*pairs + ([(Utf8Violation, 1007)] if utf8 else []), why="bomb")
                    if inflater.eof:
                        after_final += inflater.unused_data
                rest = after_final[:-4] if last and after_final.endswith(TAIL) else after_final
                if rest not in (b"", b"\x00"):
                    utf8 = text and _utf8_fails(decoder, out, False)
                    pairs = [(_PV, 1007)] + ([(Utf8Violation, 1007)] if utf8 else [])
                    return fail(*pairs, why="bytes after the final block")
            if last and fed and not inflater.eof:  # type: ignore[union-attr]
                probe = inflater.copy()  # type: ignore[union-attr]
                try:
                    probe.decompress(b"\x03\x00")  # an empty final block
                except zlib.error:
                    pass
                if not probe.eof:
                    utf8 = text and _utf8_fails(decoder, out, False)
                    pairs = [(_PV, 1007)] + ([(Utf8Violation, 1007)] if utf8 else [])
                    return fail(*pairs, why="ends inside a block")
            if last and inflater is not None and (peer_no_takeover or inflater.eof):
                inflater = None
        size += len(out)
        if text and _utf8_fails(decoder, out, last):
            return fail((Utf8Violation, 1007), why="UTF-8")
        parts.append(out)
        if last:
            ref.messages.append((text, b"".join(parts)))


class DeflateWatcher(Watcher):
    """A Watcher whose connection compresses: emitted data frames are inflated with plain
    zlib before they are compared with what was sent, and go to a peer Connection too."""

    def __init__(
        self, target: Connection, mirror: Connection, *, own: PerMessageDeflate, **kw: object
    ) -> None:
        super().__init__(target, extensions=True, **kw)  # type: ignore[arg-type]
        self.mirror = mirror
        self.mirror_messages: list[tuple[bool, bytes]] = []
        self.mirror_failed: CloseConnection | None = None
        self.mirror_parts: list[bytes] = []
        client = self.client
        no_takeover = own.client_no_context_takeover if client else own.server_no_context_takeover
        bits = own.client_max_window_bits if client else own.server_max_window_bits
        self.out_bits = inflater_bits(bits)
        self.out_no_takeover = no_takeover
        self.out_inflater: "zlib._Decompress | None" = None
        self.out_first = True  # the next data frame out starts a message
        self.fed: list[bytes] = []  # what the peer sent, before EOF
        self.got_messages: list[tuple[bool, bytes]] = []
        self.got_parts: list[bytes] = []
        self.close_event: CloseConnection | None = None

    # -- what we send

    def emit(self, data: bytes, frames: bool) -> None:
        check(type(data) is bytes, "emitted %s, not bytes", type(data).__name__)
        if not data:
            return
        if self.peer is None:
            self.peer = FrameParser(expect_mask=self.client, allowed_rsv=7)
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
            opcode, payload, fin, rsv = frame.opcode, frame.payload, frame.fin, frame.rsv
            if opcode >= 8:
                check(rsv == 0, "RSV 0x%x on a control frame we sent", rsv)
                if opcode == 8:
                    self.our_close = _check_close_payload(payload, "our close frame")
                self.last_out = (opcode, payload)
                continue
            expected_rsv = 4 if self.out_first else 0
            check(rsv == expected_rsv, "RSV 0x%x on a data frame we sent (opcode %d)", rsv, opcode)
            d = self.out_inflater
            if d is None:
                d = self.out_inflater = zlib.decompressobj(-self.out_bits)
            try:
                plain = d.decompress(payload + (TAIL if fin else b""))
            except zlib.error as exc:
                raise InvariantBroken(
                    "we sent a compressed frame zlib refuses (%s; window %d bits, context %s)"
                    % (exc, self.out_bits, "reset" if self.out_no_takeover else "kept")
                ) from None
            check(not d.unconsumed_tail and not d.eof, "a frame we sent ends the deflate stream")
            self.out_first = fin
            if fin and self.out_no_takeover:
                self.out_inflater = None  # §7.2.1: the peer may start afresh each message
            self.got_data.append((opcode, plain, fin))
            self.last_out = (opcode, payload)
        check(peer.buffered == 0, "we emitted a partial frame")
        self.check_new_data(
            "inflated data frames out differ from what was sent:\n  sent %r\n  out  %r"
        )
        self._to_mirror(data)

    def _to_mirror(self, data: bytes) -> None:
        """The peer Connection (same extension terms and limit) must get our messages."""
        mirror = self.mirror
        if self.mirror_failed is not None:
            return
        mirror.receive_data(data)
        for event in mirror.events():
            if isinstance(event, ProtocolViolation):
                self.mirror_failed = event
                return
            if isinstance(event, Message):
                piece = event.data
                self.mirror_parts.append(
                    piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)
                )
                if event.message_finished:
                    text = type(event) is TextMessage
                    self.mirror_messages.append((text, b"".join(self.mirror_parts)))
                    self.mirror_parts = []

    def sent_messages(self) -> tuple[list[tuple[bool, bytes]], int]:
        """The messages send() took whole, and the size of one still unfinished."""
        out = []
        parts: list[bytes] = []
        text = False
        for opcode, payload, fin in self.sent_data:
            if opcode:
                text = opcode == 1
            parts.append(payload)
            if fin:
                out.append((text, b"".join(parts)))
                parts = []
        return out, sum(map(len, parts))

    # -- what we receive

    def do_receive(self, data: "bytes | bytearray | memoryview | None") -> None:
        if data is not None and not self.eof_fed:
            self.fed.append(bytes(data))
        super().do_receive(data)

    def on_event(self, event: object) -> None:
        super().on_event(event)
        if isinstance(event, CloseConnection):
            self.close_event = event
        elif isinstance(event, Message):
            piece = event.data
            self.got_parts.append(piece.encode("utf-8") if isinstance(piece, str) else piece)
            if event.message_finished:
                text = type(event) is TextMessage
                self.got_messages.append((text, b"".join(self.got_parts)))
                self.got_parts = []


def run_deflate(data: bytes) -> DeflateWatcher:
    """Config byte 0: client (bit 0), auto_reply (1), whole_messages (2), message limit
    (3-5, DEFLATE_LIMITS), through wsproto's Extension hooks (6), compress_level 0, stored
    blocks, for what we send (7). Config byte 1: the negotiation (negotiate()).
    Body: a script (fuzz/formats.py); a FEED's bytes go in as bytes, bytearray or
    memoryview for arg % 3 = 0, 1, 2.
    """
    c0, c1, body = formats.split_config(data)
    client = bool(c0 & 1)
    auto_reply = bool(c0 & 2)
    whole = bool(c0 & 4)
    limit = DEFLATE_LIMITS[(c0 >> 3) & 7]
    hooked = bool(c0 & 0x40)
    level = 0 if c0 & 0x80 else 6
    client_ext, server_ext = negotiate(c1, level, hooked)
    own, theirs = (client_ext, server_ext) if client else (server_ext, client_ext)
    role = ConnectionType.CLIENT if client else ConnectionType.SERVER
    peer_role = ConnectionType.SERVER if client else ConnectionType.CLIENT
    conn = Connection(
        role,
        extensions=[own],
        max_message_size=limit,
        auto_reply=auto_reply,
        whole_messages=whole,
        random_bytes=fixed_random,
    )
    check(conn.extensions == [own], "extensions %r, negotiated %r", conn.extensions, own)
    mirror = Connection(
        peer_role,
        extensions=[theirs],
        max_message_size=limit,
        whole_messages=bool(c0 & 2),
        random_bytes=fixed_random,
    )
    w = DeflateWatcher(
        conn,
        mirror,
        own=own,
        client=client,
        auto_reply=auto_reply,
        whole_messages=whole,
        max_message_size=limit,
    )
    for record in formats.parse_records(body):
        play_record(w, record, True, False, False)
    w.finish()
    check_reference(w, conn, theirs, limit)
    check_mirror(w, limit)
    return w


def check_reference(
    w: DeflateWatcher, conn: Connection, theirs: PerMessageDeflate, limit: int | None
) -> None:
    """Invariant 4: the connection judged the peer's bytes as the reference model does."""
    client = w.client
    bits = theirs.server_max_window_bits if client else theirs.client_max_window_bits
    no_takeover = theirs.server_no_context_takeover if client else theirs.client_no_context_takeover
    wire_limit = conn._parser.max_message_size
    if limit is not None:
        # A message at the limit must fit on the wire as stored blocks (5 bytes each);
        # with deflate the connection lifts its wire limit for messages altogether.
        check(wire_limit >= limit + 5 * (limit // 65535 + 1) + 8, "wire limit %d", wire_limit)
    ref = reference_inbound(
        b"".join(w.fed),
        client=client,
        limit=limit,
        wire_limit=None if limit is None else wire_limit,
        peer_bits=inflater_bits(bits),
        peer_no_takeover=no_takeover,
        header_limit=conn._deflate is not None,  # the direct path, not wsproto's hooks
    )
    got = w.got_messages
    close = w.close_event
    if ref.verdict is _STOP:
        check(
            got == ref.messages,
            "messages before the close differ:\n  got %r\n  ref %r",
            got,
            ref.messages,
        )
        return
    if not ref.verdict:
        # Valid so far: every complete message in order, no violation.
        check(
            got == ref.messages,
            "messages differ from the reference:\n  got %r\n  ref %r",
            got[:8],
            ref.messages[:8],
        )
        check(
            not isinstance(close, ProtocolViolation),
            "%r for a stream the reference accepts",
            close,
        )
        check(
            close is None or (type(close) is CloseConnection and close.code == 1006),
            "%r ended a stream the reference accepts",
            close,
        )
        return
    check(
        got == ref.messages,
        "messages before the fault differ:\n  got %r\n  ref %r",
        got,
        ref.messages,
    )
    # Even after EOF the bytes fed before it are parsed, so the fault is always reached.
    check(
        isinstance(close, ProtocolViolation) and (type(close), close.code) in ref.verdict,
        "%s: got %r, expected one of %r",
        ref.why,
        close,
        ref.verdict,
    )


def check_mirror(w: DeflateWatcher, limit: int | None) -> None:
    """Invariant 3: every complete message we sent came back equal at the peer; one over
    the limit fails it with 1009, and only such a one."""
    sent, unfinished = w.sent_messages()
    got = w.mirror_messages
    check(got == sent[: len(got)], "the peer got %r, we sent %r", got[:4], sent[:4])
    failed = w.mirror_failed
    if failed is None:
        check(len(got) == len(sent), "the peer got %d of our %d messages", len(got), len(sent))
        return
    check(len(got) <= len(sent), "the peer failed after all our messages: %r", failed)
    size = len(sent[len(got)][1]) if len(got) < len(sent) else unfinished
    check(
        type(failed) is SizeViolation and limit is not None and size > limit,
        "the peer refused our message of %d bytes (limit %r) with %r",
        size,
        limit,
        failed,
    )
