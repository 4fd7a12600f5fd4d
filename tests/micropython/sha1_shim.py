"""hashlib.sha1 for Microdot where MicroPython has none, over wsproto_lite._sha1.

Microdot's handshake needs hashlib.sha1, which the WebAssembly build and the unix port
lack (ours does not: the core carries its own). tests/micropython/mem.py and
benchmarks/mpy/microdot_echo.py call install_sha1() before they measure anything, so the
stand-in is in neither library's figures; a board with hashlib.sha1 does it in C.
"""

import sys


class _Sha1:
    """hashlib.sha1's interface over wsproto_lite._sha1."""

    def __init__(self, data=b""):
        self.data = bytes(data)

    def update(self, data):
        self.data += data

    def digest(self):
        from wsproto_lite._sha1 import sha1

        return sha1(self.data)


class _Hashlib:
    sha1 = _Sha1
    sha256 = None


def install_sha1():
    """Put a `hashlib` with sha1 in sys.modules where the port has none; True if it did.

    wsproto_lite._sha1 is imported here, so its cost comes before any baseline.
    """
    import hashlib

    if hasattr(hashlib, "sha1"):
        return False
    import wsproto_lite._sha1  # noqa: F401

    _Hashlib.sha256 = getattr(hashlib, "sha256", None)
    sys.modules["hashlib"] = _Hashlib
    return True
