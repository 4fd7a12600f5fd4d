"""wsproto's `frame_protocol` import path: opcodes, close codes, frames and the RFC's numbers.

wsproto's frame classes (FrameProtocol, FrameDecoder, MessageDecoder, Buffer, Header, the
XorMaskers) are not here: the frame layer is .frames. The constants are RFC 6455's.
"""

from .errors import RemoteProtocolError as ParseFailed
from .extensions import RsvBits
from .frames import CloseReason, Frame, FrameParser, Opcode

# RFC 6455 §5.2: the frame header's bits and length forms.
FIN_MASK = 0x80
RSV1_MASK = 0x40
RSV2_MASK = 0x20
RSV3_MASK = 0x10
OPCODE_MASK = 0x0F
MASK_MASK = 0x80
PAYLOAD_LEN_MASK = 0x7F
PAYLOAD_LENGTH_TWO_BYTE = 126
PAYLOAD_LENGTH_EIGHT_BYTE = 127
MAX_PAYLOAD_NORMAL = 125
MAX_PAYLOAD_TWO_BYTE = 65535
MAX_PAYLOAD_EIGHT_BYTE = 18446744073709551615  # 2**64 - 1
MAX_FRAME_PAYLOAD = MAX_PAYLOAD_EIGHT_BYTE
NULL_MASK = b"\x00\x00\x00\x00"

# RFC 6455 §7.4.1: codes that describe what happened locally and never go on the wire.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)

# RFC 6455 §7.4.2: the ranges of close codes.
MIN_CLOSE_REASON = 1000
MIN_PROTOCOL_CLOSE_REASON = 1000
MAX_PROTOCOL_CLOSE_REASON = 2999
MIN_LIBRARY_CLOSE_REASON = 3000
MAX_LIBRARY_CLOSE_REASON = 3999
MIN_PRIVATE_CLOSE_REASON = 4000
MAX_PRIVATE_CLOSE_REASON = 4999
MAX_CLOSE_REASON = 4999

__all__ = [
    "LOCAL_ONLY_CLOSE_REASONS",
    "CloseReason",
    "Frame",
    "FrameParser",
    "Opcode",
    "ParseFailed",
    "RsvBits",
]
