"""wsproto_lite: a sans-IO RFC 6455 core; WSConnection is the handshake-to-frames hand-off.

Code written for wsproto's public API runs here with only the import changed.
"""

from ._compat import TYPE_CHECKING
from .connection import DEFAULT, Connection, ConnectionState, ConnectionType
from .events import Event
from .handshake import DEFAULT_MAX_HANDSHAKE_SIZE, H11Handshake

if TYPE_CHECKING:
    from typing import Iterator, Optional, Union

    from ._compat import HeadersIn, RandomBytes

__version__ = "0.1.0"


class WSConnection:
    """One WebSocket connection, from the opening handshake to the close, in either role.

    Args:
        connection_type: ConnectionType.CLIENT or ConnectionType.SERVER.
        max_message_size, max_frame_size: payload limits (default 1 MiB each, or no limit
            on messages once install_as_wsproto() ran, as in wsproto; None for
            none), checked at each frame header.
        max_handshake_size: the largest HTTP head accepted (default 16 KiB).
        auto_reply: answer pings, echo closes and send the close of a failed connection
            into data_to_send() by ourselves (off by default, as in wsproto).
        whole_messages: one event per message instead of one per frame piece.
        random_bytes: source of the handshake key and mask keys (default os.urandom).
        strict_close: sending close code 1006 or 1015, or a reason over 123 bytes,
            raises LocalProtocolError instead of sending 1000 or a cut reason as wsproto
            does (see Connection).
    """

    def __init__(
        self,
        connection_type: "ConnectionType",
        max_message_size: "Optional[int]" = DEFAULT,
        max_frame_size: "Optional[int]" = None,
        max_handshake_size: int = DEFAULT_MAX_HANDSHAKE_SIZE,
        auto_reply: bool = False,
        whole_messages: bool = False,
        random_bytes: "Optional[RandomBytes]" = None,
        strict_close: bool = False,
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.handshake = H11Handshake(
            connection_type,
            max_handshake_size=max_handshake_size,
            random_bytes=random_bytes,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            auto_reply=auto_reply,
            whole_messages=whole_messages,
            strict_close=strict_close,
        )
        self.connection: Optional[Connection] = None

    @property
    def state(self) -> "ConnectionState":
        """The ConnectionState: the handshake's until it succeeds, then the connection's."""
        if self.connection is None:
            return self.handshake.state
        return self.connection.state

    @property
    def buffered(self) -> int:
        """Bytes received after the handshake and not parsed yet (see Connection.buffered)."""
        return 0 if self.connection is None else self.connection.buffered

    @property  # not in wsproto: a read-size hint for transports
    def due(self) -> int:
        """Bytes still due of the frame being received (see Connection.due)."""
        return 0 if self.connection is None else self.connection.due

    def initiate_upgrade_connection(self, headers: "HeadersIn", path: "Union[bytes, str]") -> None:
        """Server: start from a request a framework already parsed (headers and target)."""
        self.handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """Serialise an event: handshake events first, then frames (see Connection.send)."""
        if self.connection is None:
            data = self.handshake.send(event)
            self.connection = self.handshake.connection
            return data
        return self.connection.send(event)

    def receive_data(self, data: "Optional[bytes]") -> None:
        """Feed bytes from the network; None means EOF.

        During the handshake a bad request or response raises RemoteProtocolError (its
        `event_hint` is the RejectConnection to send); afterwards peer misbehaviour
        arrives as a violation event instead.
        """
        if self.connection is None:
            self.handshake.receive_data(data)
            self.connection = self.handshake.connection
        else:
            self.connection.receive_data(data)

    def events(self) -> "Iterator[Event]":
        """Events produced by received bytes, oldest first."""
        yield from self.handshake.events()
        if self.connection is not None:
            yield from self.connection.events()

    def next_event(self) -> "Optional[Event]":
        """The next event, or None until more bytes arrive (events() one at a time)."""
        pending = self.handshake._events
        if pending:
            return pending.pop(0)
        if self.connection is not None:
            return self.connection.next_event()
        return None

    def data_to_send(self) -> bytes:
        """Drain bytes that receiving produced (automatic replies), if any."""
        if self.connection is None:
            return b""
        return self.connection.data_to_send()


# wsproto's modules, as install_as_wsproto() maps them.
_WSPROTO_MODULES = (
    "connection",
    "events",
    "extensions",
    "frame_protocol",
    "handshake",
    "typing",
    "utilities",
)


def install_as_wsproto(max_message_size: "Optional[int]" = None) -> None:
    """Make `import wsproto` and its submodules resolve to wsproto_lite, from now on.

    For running code written for wsproto (uvicorn --ws wsproto, hypercorn,
    simple-websocket, flask-sock, trio-websocket) unchanged: call it once at startup,
    before that code imports wsproto and before any connection exists. Modules that
    already imported wsproto keep what they imported.

    Connections made without a max_message_size from then on get `max_message_size`:
    None by default, wsproto's (no limit), because those programs hold messages to
    limits of their own (uvicorn's ws_max_size, hypercorn's
    websocket_max_message_size) and ours must not cut in below them.
    """
    import sys

    Connection.max_message_size = max_message_size

    package = sys.modules[__name__]
    sys.modules["wsproto"] = package
    for name in _WSPROTO_MODULES:
        module = __import__(__name__ + "." + name, None, None, ["__name__"])
        sys.modules["wsproto." + name] = module
        setattr(package, name, module)


__all__ = [
    "Connection",
    "ConnectionState",
    "ConnectionType",
    "H11Handshake",
    "WSConnection",
    "install_as_wsproto",
]
