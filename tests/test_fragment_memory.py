"""Memory for a message in progress stays near the message limit, whatever its fragmentation.

A text message of 1-byte fragments once cost a str object per fragment (issue 15: +89 MiB
for 1 MiB); the core now holds one buffer of the validated bytes. Measured with
tracemalloc around the core alone: the peak while 64 KiB of 1-byte text fragments (and of
binary ones) are fed and reassembled must stay under 4 times the message.
"""

import tracemalloc

import pytest

from wsproto_lite.connection import Connection, ConnectionType
from wsproto_lite.events import BytesMessage, TextMessage, Utf8Violation
from wsproto_lite.frames import encode_frame

KEY = b"\x37\xfa\x21\x3d"
SIZE = 64 * 1024


def fragments(opcode: int, body: bytes) -> bytes:
    # Every byte its own frame: the first with the opcode, the rest continuations.
    out = [encode_frame(opcode, body[:1], False, 0, KEY)]
    for i in range(1, len(body)):
        out.append(encode_frame(0, body[i : i + 1], i == len(body) - 1, 0, KEY))
    return b"".join(out)


@pytest.mark.parametrize("opcode", [1, 2], ids=["text", "binary"])
def test_a_message_of_one_byte_fragments_costs_about_its_size(opcode: int) -> None:
    body = (b"\xc3\xa9" * (SIZE // 2)) if opcode == 1 else bytes(range(256)) * (SIZE // 256)
    wire = fragments(opcode, body)
    conn = Connection(ConnectionType.SERVER, max_message_size=SIZE, whole_messages=True)
    step = 4096  # reads of 4 KiB, as a transport does
    got = []
    tracemalloc.start()
    try:
        for i in range(0, len(wire), step):
            conn.receive_data(wire[i : i + step])
            got.extend(conn.events())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(got) == 1
    event = got[0]
    if opcode == 1:
        assert isinstance(event, TextMessage) and event.data == body.decode("utf-8")
    else:
        assert isinstance(event, BytesMessage) and event.data == body
    # The buffer, the result, one read and its frames' bookkeeping: a small multiple.
    assert peak < 4 * SIZE, peak


def test_invalid_utf8_in_a_middle_fragment_still_fails_at_that_fragment() -> None:
    conn = Connection(ConnectionType.SERVER, whole_messages=True)
    conn.receive_data(encode_frame(1, b"ok ", False, 0, KEY))
    assert list(conn.events()) == []
    conn.receive_data(encode_frame(0, b"\xff", False, 0, KEY))  # never valid UTF-8
    (event,) = list(conn.events())
    assert isinstance(event, Utf8Violation)  # at the bad fragment, not the message's end
    assert event.response().code == 1007
