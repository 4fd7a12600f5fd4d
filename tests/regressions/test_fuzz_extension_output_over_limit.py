"""Fuzz finding (wsconnection, with a test extension that expands payloads): the message
limit is checked only on the bytes on the wire, at the frame header. An extension whose
output is larger than its input (as permessage-deflate's decompressor will be) delivers,
and with whole_messages buffers, messages far over max_message_size.

PEERS.md §2 item 8 (websockets#1715): the limit must hold for the decompressed size,
exactly at the boundary. Expected: SizeViolation (1009) once the extension's output for a
message passes max_message_size.
"""

from wsproto_lite.connection import Connection, ConnectionType
from wsproto_lite.events import BytesMessage, SizeViolation
from wsproto_lite.extensions import Extension, RsvBits
from wsproto_lite.frames import build_frame

KEY = b"\x37\xfa\x21\x3d"


class Expand(Extension):
    """Claims RSV1 and turns every payload byte into ten, like a decompressor."""

    name = "x-expand"

    def enabled(self):
        return True

    def frame_inbound_header(self, proto, opcode, rsv, payload_length):
        return RsvBits(rsv.rsv1, False, False)

    def frame_inbound_payload_data(self, proto, data):
        return bytes(data) * 10


def receive(whole_messages, payload_size):
    conn = Connection(
        ConnectionType.SERVER,
        extensions=[Expand()],
        max_message_size=1000,
        whole_messages=whole_messages,
    )
    conn.receive_data(build_frame(2, b"x" * payload_size, rsv=4, mask_key=KEY))
    return list(conn.events())


def test_expanded_message_over_the_limit_fails_1009():
    for whole in (False, True):
        events = receive(whole, 101)  # 1010 bytes after the extension
        assert [type(e) for e in events] == [SizeViolation], events
        assert events[0].code == 1009


def test_expanded_message_at_the_limit_is_delivered():
    for whole in (False, True):
        assert receive(whole, 100) == [BytesMessage(b"x" * 1000)]
