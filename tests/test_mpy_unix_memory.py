"""Memory and silence as inputs, on MicroPython's unix port over real TCP (issue 17, DESIGN §4).

tests/micropython/unix_echo.py runs from source with a small board's heap (256 KiB: the
library's import takes about 141 KiB of it) and a CPython peer writes hand-made frames:

- a message over the default limit (16 KiB on MicroPython) gets 1009 at its header,
  before its payload is sent (and with a 512 KiB heap a message at the limit is echoed);
- with no limit, a message the heap cannot hold gets 1009 ("out of memory for the
  message") and the connection ends cleanly;
- a flood of connections beyond what the heap holds is refused (the ones that do not fit
  are closed), the connections already open keep echoing, and the server keeps serving;
- with keepalive on, a silent peer gets a ping, then 1011 and the end of TCP within
  ping_interval + ping_timeout.

After each, the server must still answer a new connection, and must not have printed a
traceback (an exception left in a MicroPython task is a bug; tests/mpy_unix.serve checks).

Run by `bash scripts/test.sh micropython-unix`; a plain `pytest` leaves this file out
(tests/conftest.py), naming it runs it: .venv/bin/python -m pytest tests/test_mpy_unix_memory.py
"""

import time
from typing import List, Optional

import pytest

from .asyncio_helpers import BINARY, PING, TEXT, frame
from .blocking_helpers import RawPeer
from .mpy_unix import MicroPython, require_micropython, serve

ECHO = "tests/micropython/unix_echo.py"
SMALL_HEAP = "256K"  # a small board's heap, from source (no frozen modules, no .mpy)
LIMIT_HEAP = "512K"  # from source, enough to echo a message at the 16 KiB default limit
KiB = 1 << 10
FLOOD = 400  # connections: far more than a 256 KiB heap holds open at once


@pytest.fixture(scope="module")
def micropython() -> MicroPython:
    return require_micropython()


def echoes(port: int, message: bytes = b"still serving") -> None:
    """A new connection is accepted and echoes `message` (asserted)."""
    with RawPeer.connect(port) as peer:
        peer.handshake()
        peer.send(frame(TEXT, message))
        assert peer.read_frame() == (True, TEXT, message)


def test_a_message_over_the_default_limit_gets_1009_at_its_header(micropython: MicroPython) -> None:
    with serve(micropython, ECHO, "0", heap=SMALL_HEAP) as (_, port):
        with RawPeer.connect(port) as peer:
            peer.handshake()
            whole = frame(BINARY, b"\x00" * (16 * KiB + 1))
            peer.send(whole[:8])  # the header (2 + 2 length + 4 mask): no payload yet
            assert peer.read_close() == (1009, "message over 16384 bytes")
            assert peer.read_eof() == b""
        echoes(port)


def test_a_message_at_the_default_limit_is_echoed_with_the_heap_it_needs(
    micropython: MicroPython,
) -> None:
    # LIMIT_HEAP: the library's code imported from source takes 159 KiB of it; the rest
    # is room for a 16 KiB message in a heap that small allocations have fragmented
    # (docs/micropython.rst: what a board needs).
    with serve(micropython, ECHO, "0", heap=LIMIT_HEAP) as (_, port):
        for opcode, message in ((BINARY, b"\xa5" * (16 * KiB)), (TEXT, b"a" * (16 * KiB))):
            with RawPeer.connect(port) as peer:
                peer.handshake()
                peer.send(frame(opcode, message))
                assert peer.read_frame() == (True, opcode, message)
        with RawPeer.connect(port) as peer:
            peer.handshake()
            peer.send(frame(TEXT, b"a" * (16 * KiB + 1)))
            assert peer.read_close() == (1009, "message over 16384 bytes")
        echoes(port)


def test_a_message_the_heap_cannot_hold_gets_1009(micropython: MicroPython) -> None:
    # No limit (max_message_length 0): the heap is the limit, and running out of it is
    # the same clean 1009 as the limit, not an exception out of a task.
    with serve(micropython, ECHO, "0", "0", heap=SMALL_HEAP) as (_, port):
        with RawPeer.connect(port) as peer:
            peer.handshake()
            piece = b"\x5a" * (16 * KiB)
            peer.send(frame(BINARY, piece, fin=False))
            for _ in range(64):  # 1 MiB in all, four times the heap: bounded
                try:
                    peer.send(frame(0, piece, fin=False))
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server closed: what it sent is read below
            assert peer.read_close() == (1009, "out of memory for the message")
        echoes(port)


def _open(port: int) -> Optional[RawPeer]:
    # One more upgraded, parked connection, or None if the server refused or dropped it.
    try:
        peer = RawPeer.connect(port)
    except OSError:
        return None
    try:
        peer.handshake()
    except (OSError, EOFError, AssertionError):
        peer.close()
        return None
    return peer


def test_a_flood_of_connections_beyond_the_heap_leaves_the_open_ones_serving(
    micropython: MicroPython,
) -> None:
    with serve(micropython, ECHO, "0", heap=SMALL_HEAP) as (_, port):
        first = [_open(port) for _ in range(3)]
        assert all(peer is not None for peer in first)
        flood: List[RawPeer] = []
        refused = 0
        try:
            for _ in range(FLOOD):
                peer = _open(port)
                if peer is None:
                    refused += 1
                else:
                    flood.append(peer)
            # The heap could not hold them all: some were refused, and every one the
            # server did take is really served.
            assert refused > 0, "a 256 KiB heap held %d connections" % len(flood)
            for i, peer in enumerate(first + flood[-1:]):
                assert peer is not None
                message = b"open %d" % i
                peer.send(frame(TEXT, message))
                assert peer.read_frame() == (True, TEXT, message)
        finally:
            for peer in flood:
                peer.close()
        for peer in first:
            assert peer is not None
            peer.close()
        # Once the flood has gone, the heap is back: a new connection is served.
        deadline = time.monotonic() + 10.0
        while True:  # bounded: the server frees closed connections as it reads their EOF
            try:
                echoes(port)
                break
            except (OSError, EOFError, AssertionError):
                assert time.monotonic() < deadline, "not serving 10 s after the flood"


def test_keepalive_drops_a_silent_peer_within_interval_plus_timeout(
    micropython: MicroPython,
) -> None:
    with serve(micropython, ECHO, "0", "-1", "0.3", "0.3", heap=SMALL_HEAP) as (_, port):
        with RawPeer.connect(port) as silent:
            silent.handshake()
            since = time.monotonic()
            fin, opcode, payload = silent.read_frame()  # never answered
            assert (fin, opcode, payload) == (True, PING, b"keepalive")
            assert silent.read_close() == (1011, "keepalive ping timeout")
            assert silent.read_eof() == b""
            dead_after = time.monotonic() - since
        assert 0.55 <= dead_after < 3.0, dead_after
        # A peer that talks is kept: one message every 0.1 s for 1.2 s.
        with RawPeer.connect(port) as talker:
            talker.handshake()
            for i in range(12):
                message = b"tick %d" % i
                talker.send(frame(TEXT, message))
                assert talker.read_frame() == (True, TEXT, message)
                time.sleep(0.1)  # the pace of the traffic, not a synchronisation
        echoes(port)
