"""Echo client that drives WSConnection over asyncio streams, for Autobahn's fuzzingserver.

Runs every case the server reports, then asks it to write its reports. Each connection
offers permessage-deflate (RFC 7692) with a fresh PerMessageDeflate, so cases 12.* and
13.* test the core's extension too.
Run: python wsconn_client.py PORT [AGENT]
"""

import asyncio
import json
import sys

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    Message,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto_lite.extensions import PerMessageDeflate

MAX_MESSAGE = 64 << 20
READ_SIZE = 65536


async def session(port: int, target: str, echo: bool = True) -> "list[str]":
    """Open a connection to target; echo messages if asked; return the text received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ws = WSConnection(
        ConnectionType.CLIENT,
        max_message_size=MAX_MESSAGE,
        auto_reply=True,
        whole_messages=True,
    )
    texts: list[str] = []
    # One instance per connection: it holds this connection's zlib state.
    request = Request(host="127.0.0.1:%d" % port, target=target, extensions=[PerMessageDeflate()])
    writer.write(ws.send(request))
    try:
        while ws.state is not ConnectionState.CLOSED:
            data = await reader.read(READ_SIZE)
            try:
                ws.receive_data(data or None)
            except RemoteProtocolError:
                break
            out = bytearray()
            for event in ws.events():
                if isinstance(event, (AcceptConnection, RejectConnection, RejectData)):
                    continue
                if isinstance(event, TextMessage):
                    texts.append(event.data)
                if echo and isinstance(event, Message) and ws.state is ConnectionState.OPEN:
                    out += ws.send(Message(data=event.data))
            out += ws.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if not data:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return texts


async def main(port: int, agent: str) -> None:
    count = int((await session(port, "/getCaseCount", echo=False))[0])
    for case in range(1, count + 1):
        await session(port, "/runCase?case=%d&agent=%s" % (case, agent))
    await session(port, "/updateReports?agent=%s" % agent, echo=False)
    print(json.dumps({"cases": count}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "wsproto_lite"))
