"""uvicorn's wsproto back end as an Autobahn echo server, on wsproto_lite or on real wsproto.

    .consumers/venv/bin/python tests/consumers/uvicorn_echo.py PORT [--real]

Serves a plain ASGI app on 127.0.0.1:PORT with `uvicorn.run(..., ws="wsproto")`: it
accepts every WebSocket, echoes each text or bytes message back as it came and returns
when the client goes away. Without --real, `wsproto_lite.install_as_wsproto()` runs before
uvicorn is imported, so uvicorn's `import wsproto` gets wsproto_lite; with --real it gets
the wsproto installed in the venv. The uvicorn settings are the same either way:
`ws_max_size` is 64 MiB (Autobahn sends up to 16 MiB in section 9, uvicorn's default
limit), permessage-deflate and keep-alive pings stay at uvicorn's defaults.

Prints which wsproto it runs on, then starts; run.py waits until the port accepts.
For tests/consumers/autobahn.py, or by hand:

    .venv/bin/python tests/autobahn/run.py fuzzingclient \
        --server-cmd '.consumers/venv/bin/python tests/consumers/uvicorn_echo.py {port}'
"""

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_MESSAGE_SIZE = 64 << 20


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app: echo every WebSocket message; answer plain HTTP with 404."""
    if scope["type"] == "http":
        await _not_found(send)
    elif scope["type"] == "websocket":
        await _echo(receive, send)


async def _not_found(send: Send) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"10")]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": b"not found\n"})


async def _echo(receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect: the client closed or went away
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def _use_wsproto(real: bool) -> str:
    """Make `import wsproto` give real wsproto or wsproto_lite; describe what it gives."""
    if not real:
        import wsproto_lite

        wsproto_lite.install_as_wsproto()
    import wsproto

    return f"wsproto is {wsproto.__name__} from {wsproto.__file__}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--real", action="store_true", help="run on real wsproto")
    args = parser.parse_args(argv)
    print(_use_wsproto(args.real), flush=True)
    import uvicorn  # only now: its wsproto back end imports wsproto when it loads

    print(f"uvicorn {uvicorn.__version__}: starting on 127.0.0.1:{args.port}", flush=True)
    uvicorn.run(
        echo_app,
        host="127.0.0.1",
        port=args.port,
        ws="wsproto",
        ws_max_size=MAX_MESSAGE_SIZE,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
