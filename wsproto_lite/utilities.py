"""wsproto's `utilities` import path: the errors, the handshake helpers and two header helpers."""

from ._compat import TYPE_CHECKING
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .handshake import ACCEPT_GUID, generate_nonce
from .handshake import accept_key as generate_accept_token

if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Tuple


def normed_header_dict(headers: "Iterable[Tuple[bytes, bytes]]") -> "Dict[bytes, bytes]":
    """Headers as a dict, the values of a repeated name joined with b", " in order.

    As wsproto's: fine for list-valued headers, wrong for Set-Cookie (never joinable).
    """
    joined: "Dict[bytes, bytes]" = {}
    for name, value in headers:
        joined[name] = joined[name] + b", " + value if name in joined else value
    return joined


def split_comma_header(value: bytes) -> "List[str]":
    """The comma-separated pieces of a header value, stripped, as ASCII text.

    As wsproto's: a quoted string holding a comma is split too (the handshake itself
    parses extension offers properly); non-ASCII raises UnicodeDecodeError.
    """
    return [piece.decode("ascii").strip() for piece in value.split(b",")]


__all__ = [
    "ACCEPT_GUID",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
    "normed_header_dict",
    "split_comma_header",
]
