"""Echo server on transports.uasyncio, run ON MicroPython's unix port over real TCP.

    MICROPYPATH=.:$DIR/lib $DIR/micropython -X heapsize=2M \\
        tests/micropython/unix_echo.py PORT [MAX_MESSAGE_LENGTH [PING_INTERVAL PING_TIMEOUT]]

Echoes every text and binary message (the conformance peer of wstest's fuzzingclient,
and of the interoperability tests). PORT 0 lets the kernel pick one; either way the
first line printed is `listening on PORT`. MAX_MESSAGE_LENGTH is the transport's
max_message_length (-1 or absent: its default, which is smaller on MicroPython than on
CPython; 0 no limit). PING_INTERVAL and PING_TIMEOUT (seconds) turn keepalive on. Runs
until killed.

Why the port comes from /proc: MicroPython's sockets have no getsockname(), and
asyncio.start_server keeps its socket inside the serving task. So after serve() the
port is read from Linux's /proc/net/tcp, the LISTEN entry whose inode is one of this
process's socket descriptors (it has exactly one listening socket). The unix port runs
on Linux here; elsewhere pass a port other than 0.
"""

import asyncio
import os
import sys

# The repository root (two levels up) on sys.path, so the script also runs with only
# MicroPython's asyncio library on MICROPYPATH.
_here = __file__.rpartition("/")[0] or "."
sys.path.append(_here + "/../..")

from transports.uasyncio import serve  # noqa: E402

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


async def echo(request, ws):
    async for message in ws:
        await ws.send(message)


def _socket_inodes():
    # The inodes of this process's sockets: stat() follows /proc/self/fd/N to the socket.
    inodes = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            inodes.add(os.stat("/proc/self/fd/" + name)[1])
        except OSError:
            pass  # the descriptor listdir itself used, closed by now
    return inodes


def listening_port():
    """The local port of this process's one listening TCP socket, from /proc/net/tcp."""
    inodes = _socket_inodes()
    ports = []
    with open("/proc/net/tcp") as table:
        table.readline()  # the column names
        for line in table:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[9]) in inodes:
                ports.append(int(fields[1].rpartition(":")[2], 16))
    if len(ports) != 1:
        raise OSError("expected one listening socket in /proc/net/tcp, found %r" % (ports,))
    return ports[0]


async def main(port, max_message_length, ping_interval, ping_timeout):
    await serve(
        echo,
        "127.0.0.1",
        port,
        max_message_length=max_message_length,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    print("listening on", port or listening_port())
    while True:  # the server runs as its own task; this one only keeps the loop alive
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 9001,
            int(sys.argv[2]) if len(sys.argv) > 2 else None,
            float(sys.argv[3]) if len(sys.argv) > 3 else None,
            float(sys.argv[4]) if len(sys.argv) > 4 else 20.0,
        )
    )
