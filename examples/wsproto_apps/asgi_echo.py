"""A plain ASGI echo app: what the uvicorn and hypercorn recipes serve.

Every text or bytes message comes back as it came; GET /which answers which wsproto the
server process imported (``wsproto_lite`` once install_as_wsproto() ran).
"""

import sys
from typing import Any, Awaitable, Callable, Dict

Message = Dict[str, Any]


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        body = sys.modules["wsproto"].__name__.encode() if "wsproto" in sys.modules else b"-"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    # A WebSocket: accept, then echo until the client closes.
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
