"""Every public event: what events() yields and what send() takes.

Plain slotted classes (MicroPython has no dataclasses); equality needs the same type.
Names, fields and defaults follow wsproto's events, plus the violation subclasses.
"""

from ._compat import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence, Tuple, Union

    from ._compat import HeadersIn

    ExtensionLike = Any  # an Extension instance, or its name in a Request


class Event:
    """Base of every event."""

    __slots__ = ()
    _fields: "Tuple[str, ...]" = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        args = ", ".join("%s=%r" % (n, getattr(self, n)) for n in self._fields)
        return "%s(%s)" % (type(self).__name__, args)


class Request(Event):
    """A client asks to open a WebSocket connection (server side), or asks us to send one."""

    __slots__ = ("host", "target", "extensions", "extra_headers", "subprotocols")
    _fields = __slots__

    def __init__(
        self,
        host: str,
        target: str,
        extensions: "Optional[Sequence[ExtensionLike]]" = None,
        extra_headers: "Optional[HeadersIn]" = None,
        subprotocols: "Optional[Sequence[str]]" = None,
    ) -> None:
        self.host = host
        self.target = target
        self.extensions: "List[ExtensionLike]" = list(extensions or ())
        self.extra_headers: "List[Tuple[Union[bytes, str], Union[bytes, str]]]" = list(
            extra_headers or ()
        )
        self.subprotocols: "List[str]" = list(subprotocols or ())


class AcceptConnection(Event):
    """The server accepts the upgrade (sent by a server, received by a client)."""

    __slots__ = ("subprotocol", "extensions", "extra_headers")
    _fields = __slots__

    def __init__(
        self,
        subprotocol: "Optional[str]" = None,
        extensions: "Optional[Sequence[ExtensionLike]]" = None,
        extra_headers: "Optional[HeadersIn]" = None,
    ) -> None:
        self.subprotocol = subprotocol
        self.extensions: "List[ExtensionLike]" = list(extensions or ())
        self.extra_headers: "List[Tuple[Union[bytes, str], Union[bytes, str]]]" = list(
            extra_headers or ()
        )


class RejectConnection(Event):
    """The server answers the upgrade with an HTTP response; any body follows as RejectData."""

    __slots__ = ("status_code", "headers", "has_body")
    _fields = __slots__

    def __init__(
        self,
        status_code: int = 400,
        headers: "Optional[HeadersIn]" = None,
        has_body: bool = False,
    ) -> None:
        self.status_code = status_code
        self.headers: "List[Tuple[Union[bytes, str], Union[bytes, str]]]" = list(headers or ())
        self.has_body = has_body


class RejectData(Event):
    """A piece of a rejection's HTTP body."""

    __slots__ = ("data", "body_finished")
    _fields = __slots__

    def __init__(self, data: bytes, body_finished: bool = True) -> None:
        self.data = data
        self.body_finished = body_finished


class CloseConnection(Event):
    """A close frame (or, with code 1006, a connection lost without one)."""

    __slots__ = ("code", "reason")
    _fields = __slots__

    def __init__(self, code: int, reason: "Optional[str]" = None) -> None:
        self.code = code
        self.reason = reason

    def response(self) -> "CloseConnection":
        """The close frame to send back."""
        return CloseConnection(code=self.code, reason=self.reason)


class ProtocolViolation(CloseConnection):
    """The peer broke RFC 6455; `.response()` is the close frame to send (1002 by default)."""

    __slots__ = ()

    def __init__(self, code: int = 1002, reason: "Optional[str]" = None) -> None:
        super().__init__(code, reason)

    def response(self) -> CloseConnection:
        """Our close frame: the violation's code, and its reason cut to fit a close frame."""
        reason = self.reason
        if reason and len(reason.encode("utf-8")) > 123:
            reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore") + "..."
        return CloseConnection(code=self.code, reason=reason)


class Utf8Violation(ProtocolViolation):
    """A text message or close reason was not valid UTF-8 (1007)."""

    __slots__ = ()

    def __init__(self, code: int = 1007, reason: "Optional[str]" = None) -> None:
        super().__init__(code, reason)


class SizeViolation(ProtocolViolation):
    """A frame or message announced more bytes than the limit (1009)."""

    __slots__ = ()

    def __init__(self, code: int = 1009, reason: "Optional[str]" = None) -> None:
        super().__init__(code, reason)


class Message(Event):
    """A data frame's payload; `message_finished` marks the last piece of a message."""

    __slots__ = ("data", "frame_finished", "message_finished")
    _fields = __slots__

    def __init__(
        self,
        data: "Union[str, bytes, bytearray]",
        frame_finished: bool = True,
        message_finished: bool = True,
    ) -> None:
        self.data = data
        self.frame_finished = frame_finished
        self.message_finished = message_finished


class TextMessage(Message):
    """A piece of a text message, as str."""

    __slots__ = ()
    data: str

    def __init__(self, data: str, frame_finished: bool = True, message_finished: bool = True):
        self.data = data
        self.frame_finished = frame_finished
        self.message_finished = message_finished


class BytesMessage(Message):
    """A piece of a binary message, as bytes."""

    __slots__ = ()
    data: "Union[bytes, bytearray]"

    def __init__(
        self,
        data: "Union[bytes, bytearray]",
        frame_finished: bool = True,
        message_finished: bool = True,
    ) -> None:
        self.data = data
        self.frame_finished = frame_finished
        self.message_finished = message_finished


class Ping(Event):
    """A ping; `.response()` is the matching pong."""

    __slots__ = ("payload",)
    _fields = __slots__

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload

    def response(self) -> "Pong":
        """The pong that answers this ping."""
        return Pong(payload=self.payload)


class Pong(Event):
    """A pong (an answer to a ping, or unsolicited)."""

    __slots__ = ("payload",)
    _fields = __slots__

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload
