"""Echo server on transports.blocking, the conformance peer for wstest's fuzzingclient.

Run: python blocking_echo.py PORT
"""

import sys

from transports.blocking import Request, WebSocket, serve


def echo(request: Request, ws: WebSocket) -> None:
    for message in ws:
        ws.send(message)


if __name__ == "__main__":
    server = serve(
        echo,
        "127.0.0.1",
        int(sys.argv[1]) if len(sys.argv) > 1 else 9001,
        max_message_length=64 << 20,
    )
    print("listening on", server.port, flush=True)
    server.serve_forever()
