"""Echo server on transports.asyncio, the conformance peer for wstest's fuzzingclient.

Run: python asyncio_echo.py PORT
"""

import asyncio
import sys

from transports.asyncio import Request, WebSocket, serve


async def echo(request: Request, ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    server = await serve(echo, "127.0.0.1", port, max_message_length=64 << 20)
    print("listening on", server.port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
