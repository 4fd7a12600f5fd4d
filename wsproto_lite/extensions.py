"""WebSocket extensions: the `Extension` interface the handshake and Connection call.

Same method names and meanings as wsproto's `Extension`, so extensions written for
wsproto port by changing the import. permessage-deflate (RFC 7692) belongs here too, as
`PerMessageDeflate(Extension)`, offered only where `zlib` exists. Imports nothing
MicroPython lacks: no `abc`, no `typing` at run time.
"""

from ._compat import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Iterator, Optional, Tuple, Union


class RsvBits:
    """The three RSV bits of a frame header (RFC 6455 §5.2), as booleans.

    Behaves like wsproto's `RsvBits` named tuple where code relies on it: it unpacks,
    indexes and compares equal to a 3-tuple of the same bools.
    """

    __slots__ = ("rsv1", "rsv2", "rsv3")

    def __init__(self, rsv1: bool = False, rsv2: bool = False, rsv3: bool = False) -> None:
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

    @staticmethod
    def from_int(bits: int) -> "RsvBits":
        """From the int form frames.py uses: RSV1 = 4, RSV2 = 2, RSV3 = 1."""
        return RsvBits(bool(bits & 4), bool(bits & 2), bool(bits & 1))

    def to_int(self) -> int:
        """To the int form frames.py uses: RSV1 = 4, RSV2 = 2, RSV3 = 1."""
        return (4 if self.rsv1 else 0) | (2 if self.rsv2 else 0) | (1 if self.rsv3 else 0)

    def _tuple(self) -> "Tuple[bool, bool, bool]":
        return (self.rsv1, self.rsv2, self.rsv3)

    def __iter__(self) -> "Iterator[bool]":
        return iter(self._tuple())

    def __getitem__(self, index: int) -> bool:
        return self._tuple()[index]

    def __len__(self) -> int:
        return 3

    def __eq__(self, other: object) -> bool:
        # A tuple compares too: wsproto's RsvBits is a NamedTuple.
        if type(other) is RsvBits:
            return self._tuple() == other._tuple()
        if type(other) is tuple:
            return self._tuple() == other
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return self.to_int()

    def __repr__(self) -> str:
        return "RsvBits(rsv1=%r, rsv2=%r, rsv3=%r)" % self._tuple()


class Extension:
    """Base of a negotiable extension (RFC 6455 §9); subclasses set `name` and override.

    Handshake side: the client calls `offer()` and, once the server answered,
    `finalize(accepted)`; the server calls `accept(offer)` for each offer of this
    extension's name, until one is accepted. Frame side (once negotiated and
    `enabled()`): the Connection calls the `frame_*` hooks; a hook returns an int close
    code instead of its usual result to fail the connection with that code.
    """

    name: str

    def enabled(self) -> bool:
        """Whether negotiation switched this extension on for the connection."""
        return False

    def offer(self) -> "Union[bool, str]":
        """Client: the parameters to offer ("" or True for none), or False to offer nothing."""
        raise NotImplementedError("Extension.offer")

    def accept(self, offer: str) -> "Optional[Union[bool, str]]":
        """Server: the parameters to answer `offer` (the client's "name; params" string).

        A str (maybe "") or True accepts; None or False declines this offer.
        """
        return None

    def finalize(self, offer: str) -> None:
        """Client: the server accepted, with this "name; params" string."""

    def frame_inbound_header(
        self, proto: "Any", opcode: int, rsv: RsvBits, payload_length: int
    ) -> "Union[RsvBits, int]":
        """A frame header arrived: the RSV bits this extension claims, or a close code."""
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: "Any", data: bytes) -> "Union[bytes, int]":
        """Payload bytes of the current frame: the transformed bytes, or a close code."""
        return data

    def frame_inbound_complete(self, proto: "Any", fin: bool) -> "Optional[Union[bytes, int]]":
        """The current frame ended: bytes to append to its payload, None, or a close code."""
        return None

    def frame_outbound(
        self, proto: "Any", opcode: int, rsv: RsvBits, data: bytes, fin: bool
    ) -> "Tuple[RsvBits, bytes]":
        """A frame is about to be sent: its RSV bits and payload, transformed."""
        return (rsv, data)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, getattr(self, "name", "?"))
