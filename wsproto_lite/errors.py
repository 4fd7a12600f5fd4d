"""The exceptions: what the application did wrong, and what the peer did wrong.

Each RemoteProtocolError knows the close code (or HTTP status) to answer with and the event
that events() reports for it; Connection turns one into a violation event in one place.
"""

from ._compat import TYPE_CHECKING
from .events import (
    Event,
    ProtocolViolation,
    RejectConnection,
    SizeViolation,
    Utf8Violation,
)

if TYPE_CHECKING:
    from typing import Optional, Type

    from ._compat import HeadersIn


class ProtocolError(Exception):
    """Base of every error the core raises."""


class LocalProtocolError(ProtocolError):
    """The application asked for something illegal in the current state; nothing changed."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; `event_hint` is what events() reports for it.

    Frame-level errors carry the close code in `code`; handshake errors carry the HTTP
    status in `status_code` and a RejectConnection as `event_hint`.
    """

    code = 1002
    event_type: "Type[ProtocolViolation]" = ProtocolViolation

    def __init__(self, message: str, event_hint: "Optional[Event]" = None) -> None:
        super().__init__(message)
        if event_hint is None:
            event_hint = self.event_type(self.code, message)
        self.event_hint = event_hint

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidUTF8(RemoteProtocolError):
    """A text message or a close reason is not valid UTF-8 (1007)."""

    code = 1007
    event_type = Utf8Violation


class BadCompressedData(RemoteProtocolError):
    """A compressed message does not inflate: corrupt, cut inside a block, or data after
    its final block (1007, reported as a ProtocolViolation carrying that code)."""

    code = 1007


class MessageTooBig(RemoteProtocolError):
    """A frame or message announced more bytes than its limit (1009)."""

    code = 1009
    event_type = SizeViolation


class HandshakeError(RemoteProtocolError):
    """The peer's opening handshake is unacceptable; answer with `status_code`.

    The message is wsproto's where wsproto has one ("Bad HTTP message", "Missing
    header, 'Host'", ...), so code that matches on it keeps working; `detail` says
    exactly what was wrong (the same as the message where that already does).
    """

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        headers: "Optional[HeadersIn]" = None,
        detail: "Optional[str]" = None,
    ) -> None:
        self.status_code = status_code
        self.detail = message if detail is None else detail
        super().__init__(message, RejectConnection(status_code=status_code, headers=headers))
