"""wsproto's `utilities` import path: the errors and handshake helpers, re-exported; no code."""

from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .handshake import accept_key as generate_accept_token
from .handshake import generate_nonce

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
]
