"""Fuzz finding (handshake_server): a request line whose HTTP version holds a byte that
is not UTF-8 raised UnicodeDecodeError from receive_data() instead of HandshakeError.

The version has the right shape (b"HTTP/" + 1 byte + b"." + 1 byte), is not b"HTTP/1.1",
and the error message decoded it strictly.
"""

from wsproto_lite import ConnectionType
from wsproto_lite.errors import HandshakeError
from wsproto_lite.handshake import H11Handshake


def test_non_utf8_http_version_is_refused_400():
    hs = H11Handshake(ConnectionType.SERVER)
    try:
        hs.receive_data(b"GET / HTTP/\xb1.1\r\nHost: example.com\r\n\r\n")
    except HandshakeError as exc:
        assert exc.status_code == 400
    else:
        raise AssertionError("HandshakeError not raised")
