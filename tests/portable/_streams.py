"""In-memory streams with the methods of MicroPython's asyncio Stream, for the portable tests.

Two Pipes make a connection; each end is a Stream (a reader and a writer in one object,
as on MicroPython). A write after the other end closed fails with OSError, as a closed
socket's does.
"""

import asyncio


class Pipe:
    """One direction of an in-memory connection."""

    def __init__(self):
        self.buf = b""
        self.closed = False
        self.event = asyncio.Event()

    async def read(self, n=-1):
        while not self.buf and not self.closed:
            self.event.clear()
            await self.event.wait()
        if n < 0:
            n = len(self.buf)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def feed(self, data):
        if self.closed:
            raise OSError(32, "write after close")  # EPIPE, as a closed socket says
        self.buf += data
        self.event.set()

    def end(self):
        self.closed = True
        self.event.set()


class Stream:
    """One end: the methods MicroPython's asyncio Stream has (a reader and a writer in one)."""

    def __init__(self, incoming, outgoing):
        self.incoming = incoming
        self.outgoing = outgoing
        self.closes = 0

    async def read(self, n=-1):
        return await self.incoming.read(n)

    async def readexactly(self, n):
        data = b""
        while len(data) < n:
            chunk = await self.incoming.read(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def write(self, data):
        self.outgoing.feed(bytes(data))

    async def drain(self):
        pass

    async def awrite(self, data):
        self.write(data)

    def close(self):
        self.closes += 1
        self.outgoing.end()

    async def wait_closed(self):
        pass


def stream_pair():
    a, b = Pipe(), Pipe()
    return Stream(a, b), Stream(b, a)
