"""Echo client on transports.asyncio, for wstest's fuzzingserver: runs every case.

Run: python asyncio_client.py PORT [AGENT]
"""

import asyncio
import sys

from transports.asyncio import WebSocketError, connect


async def run_case(url: str) -> None:
    try:
        async with connect(url, max_message_length=64 << 20) as ws:
            async for message in ws:
                await ws.send(message)
    except WebSocketError:
        pass  # the case ended the connection abnormally on purpose


async def main(port: int, agent: str) -> None:
    base = "ws://127.0.0.1:%d" % port
    async with connect(base + "/getCaseCount") as ws:
        count = int(await ws.receive())
    for case in range(1, count + 1):
        await run_case("%s/runCase?case=%d&agent=%s" % (base, case, agent))
    async with connect("%s/updateReports?agent=%s" % (base, agent)) as ws:
        pass
    print("ran", count, "cases")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "asyncio"))
