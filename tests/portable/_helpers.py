"""Helpers shared by tests/portable: bytes in, events out, on CPython and MicroPython.

No pytest import, no typing, no f-strings: only what the MicroPython WebAssembly
build has. Input frames are written by hand in the tests; `masked()` here turns a
hand-written unmasked frame into the frame a client would send, with a per-byte XOR
that does not share code with wsproto_lite.frames.mask.
"""

from wsproto_lite.connection import Connection, ConnectionState, ConnectionType
from wsproto_lite.errors import LocalProtocolError
from wsproto_lite.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    ProtocolViolation,
    TextMessage,
)

KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's key; all-zero would hide masking bugs

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
RECEIVERS = (SERVER, CLIENT)


def fixed_key(n):
    """random_bytes for Connection: always the RFC 6455 §5.7 masking key."""
    return KEY[:n]


def raises(exc_type, fn, *args, **kwargs):
    """Call fn; return the exc_type it raises, or fail if it raises nothing."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised by %r" % (exc_type.__name__, fn))


def name(kind):
    return "server" if kind is SERVER else "client"


def masked(frame, key=KEY):
    """The frame as a client sends it: MASK bit set, key inserted, payload XORed byte by byte.

    `frame` is one hand-written, unmasked frame (its length field may lie).
    """
    n7 = frame[1] & 0x7F
    head = 4 if n7 == 126 else 10 if n7 == 127 else 2
    out = bytearray(frame[:head])
    out[1] |= 0x80
    out += key
    for i in range(head, len(frame)):
        out.append(frame[i] ^ key[(i - head) % 4])
    return bytes(out)


def wire_for(kind, frames):
    """What a peer sends a `kind` receiver: masked towards a server, plain towards a client."""
    if kind is SERVER:
        return b"".join([masked(f) for f in frames])
    return b"".join(frames)


def sent_by(kind, frame):
    """What a `kind` sender puts on the wire for this unmasked frame (clients mask with KEY)."""
    return masked(frame) if kind is CLIENT else frame


def connection(kind, **kwargs):
    """A Connection of the given type whose mask keys are always KEY."""
    if "random_bytes" not in kwargs:
        kwargs["random_bytes"] = fixed_key
    return Connection(kind, **kwargs)


def pair(**kwargs):
    """A client and a server Connection, back to back."""
    return connection(CLIENT, **kwargs), connection(SERVER, **kwargs)


def feed(conn, chunks):
    """Feed each chunk; return every event, in order."""
    got = []
    for chunk in chunks:
        conn.receive_data(chunk)
        got.extend(conn.events())
    return got


def bytewise(data):
    return [data[i : i + 1] for i in range(len(data))]


def merge(events):
    """Join message pieces into whole messages, placed where their last piece was.

    A message that never finishes is dropped when a CloseConnection follows it (the
    application throws it away); at the end of the events it is kept, unfinished.
    """
    out = []
    parts = []
    kind = None
    for event in events:
        if isinstance(event, (TextMessage, BytesMessage)):
            if kind is not None:
                assert type(event) is kind, "a message changed type: %r" % (event,)
            kind = type(event)
            parts.append(event.data)
            if event.message_finished:
                out.append(kind(("" if kind is TextMessage else b"").join(parts)))
                parts = []
                kind = None
            continue
        if isinstance(event, CloseConnection):
            parts = []
            kind = None
        out.append(event)
    if kind is not None:
        out.append(kind(("" if kind is TextMessage else b"").join(parts), True, False))
    return out


def same_event(got, expected):
    """Events are equal; a violation only needs the same class and code (its reason is prose)."""
    if isinstance(expected, ProtocolViolation):
        return type(got) is type(expected) and got.code == expected.code
    return got == expected


def assert_events(got, expected, context=""):
    ok = len(got) == len(expected)
    if ok:
        for g, e in zip(got, expected):
            if not same_event(g, e):
                ok = False
    assert ok, "%s: got %r, expected %r" % (context, got, expected)


def has_close(events):
    return any(isinstance(event, CloseConnection) for event in events)


TRAILER = b"\x89\x04tail"  # a ping: legal anywhere, even between fragments


def receive3(kind, frames, **kwargs):
    """Feed hand-written frames to a `kind` Connection three ways and check they agree.

    Ways: all at once; one byte at a time; all at once followed by a further ping
    split over two feeds (it must arrive intact, unless a close or a violation came
    first, in which case it must be ignored). Message pieces are merged before
    comparing. Returns (merged events, final state, data_to_send() bytes) of the first way.
    """
    wire = wire_for(kind, frames)
    trailer = wire_for(kind, [TRAILER])
    context = "%s receiving %r" % (name(kind), wire)

    conn = connection(kind, **kwargs)
    events = merge(feed(conn, [wire]))
    state = conn.state
    out = conn.data_to_send()

    slow = connection(kind, **kwargs)
    slow_events = []
    slow_out = b""
    refuses = not kwargs.get("auto_reply")  # once CLOSED (see assert_refused)
    for chunk in bytewise(wire):
        if refuses and slow.state is ConnectionState.CLOSED:
            assert_refused(slow, chunk, context + " one byte at a time")
            break
        slow.receive_data(chunk)
        slow_events.extend(slow.events())
        slow_out += slow.data_to_send()
    assert_events(merge(slow_events), events, context + " one byte at a time")
    assert slow.state is state, "%s one byte at a time: %r, not %r" % (context, slow.state, state)
    assert slow_out == out, "%s one byte at a time: sent %r, not %r" % (context, slow_out, out)

    tail = connection(kind, **kwargs)
    tail_events = feed(tail, [wire + trailer[:3]])
    if refuses and tail.state is ConnectionState.CLOSED:
        assert_refused(tail, trailer[3:], context + " with trailing bytes")
    else:
        tail_events += feed(tail, [trailer[3:]])
    tail_events = merge(tail_events)
    tail_out = tail.data_to_send()
    if has_close(events):
        assert_events(tail_events, events, context + " with trailing bytes")
        assert tail_out == out, "%s: trailing bytes sent %r" % (context, tail_out)
    else:
        assert_events(tail_events, events + [Ping(b"tail")], context + " with trailing bytes")
        if kwargs.get("auto_reply") and state is ConnectionState.OPEN:
            pong = sent_by(kind, b"\x8a\x04tail")
            assert tail_out == out + pong, "%s: trailing ping answered %r" % (context, tail_out)
        else:
            assert tail_out == out, "%s: trailing bytes sent %r" % (context, tail_out)
    assert tail.state is state, "%s with trailing bytes: %r, not %r" % (context, tail.state, state)
    return events, state, out


def assert_refused(conn, data, context):
    """As in wsproto: bytes fed once CLOSED raise LocalProtocolError and change nothing.

    Not with auto_reply: then CLOSED came without the application acting (the core
    echoed the close), and later bytes are dropped quietly.
    """
    try:
        conn.receive_data(data)
        refused = False
    except LocalProtocolError:
        refused = True
    assert refused, "%s: bytes fed in state CLOSED were taken" % context
    assert conn.state is ConnectionState.CLOSED, context
    assert list(conn.events()) == [], context  # (callers compare data_to_send())


def close_frame_code(frame):
    """(code, reason bytes) of one unmasked close frame; None for an empty payload."""
    assert frame[0] == 0x88, "not a final close frame: %r" % (frame,)
    n = frame[1]
    assert n < 126 and len(frame) == 2 + n, "not one close frame: %r" % (frame,)
    if n == 0:
        return None
    return (frame[2] << 8) | frame[3], frame[4:]


def unmask_frame(frame):
    """The unmasked form of one hand-checked masked frame (the inverse of masked())."""
    n7 = frame[1] & 0x7F
    head = 4 if n7 == 126 else 10 if n7 == 127 else 2
    assert frame[1] & 0x80, "frame is not masked: %r" % (frame,)
    key = frame[head : head + 4]
    out = bytearray(frame[:head])
    out[1] &= 0x7F
    for i in range(head + 4, len(frame)):
        out.append(frame[i] ^ key[(i - head - 4) % 4])
    return bytes(out)
