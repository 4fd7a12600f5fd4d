"""A pytest plugin (`-p offline_names`): example.com resolves to 127.0.0.1 without DNS.

simple-websocket's client tests give `ws://example.com/...` to a client whose socket and
WSConnection are mocks; only its getaddrinfo() call is real, and this sandbox (like many
CI machines) has no DNS. Nothing is ever connected to the address. Loaded for both runs,
real wsproto and wsproto_lite, so the comparison stays like for like.
"""

import socket

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host == "example.com":
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
