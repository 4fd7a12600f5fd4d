"""wsproto's `frame_protocol` import path: opcodes, close codes and frames, re-exported."""

from .errors import RemoteProtocolError as ParseFailed
from .extensions import RsvBits
from .frames import CloseReason, Frame, FrameParser, Opcode

__all__ = ["CloseReason", "Frame", "FrameParser", "Opcode", "ParseFailed", "RsvBits"]
