"""Echo client on transports.uasyncio for wstest's fuzzingserver, run ON MicroPython's unix port.

    MICROPYPATH=.:$DIR/lib $DIR/micropython -X heapsize=2M \\
        tests/micropython/unix_client.py PORT [AGENT [MAX_MESSAGE_LENGTH]]

What tests/autobahn/asyncio_client.py does on CPython: read /getCaseCount, run
/runCase?case=N&agent=AGENT for N = 1..count echoing every message until the server
closes, then open /updateReports. MAX_MESSAGE_LENGTH is the transport's
max_message_length for the cases (-1 the transport's default, 0 no limit; default here
64 MiB, as the CPython peers use). Exits 0 when every case ran, whatever the verdicts: wstest
judges them.
"""

import asyncio
import sys

# The repository root (two levels up) on sys.path, as in unix_echo.py.
_here = __file__.rpartition("/")[0] or "."
sys.path.append(_here + "/../..")

from transports.uasyncio import WebSocketError, connect  # noqa: E402


async def run_case(url, max_message_length):
    try:
        ws = await connect(url, max_message_length=max_message_length)
    except WebSocketError:
        return  # a case may refuse the handshake on purpose
    try:
        async for message in ws:
            await ws.send(message)
    except WebSocketError:
        pass  # the case ended the connection abnormally on purpose
    finally:
        await ws.close()


async def main(port, agent, max_message_length):
    base = "ws://127.0.0.1:%d" % port
    ws = await connect(base + "/getCaseCount")
    count = int(await ws.receive())
    await ws.close()
    for case in range(1, count + 1):
        await run_case("%s/runCase?case=%d&agent=%s" % (base, case, agent), max_message_length)
    ws = await connect("%s/updateReports?agent=%s" % (base, agent))
    await ws.close()
    print("ran", count, "cases")


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]),
            sys.argv[2] if len(sys.argv) > 2 else "uasyncio-unix",
            int(sys.argv[3]) if len(sys.argv) > 3 else 64 << 20,
        )
    )
