"""Echo server that drives WSConnection over asyncio streams, with no transport involved.

It is the conformance peer for Autobahn|Testsuite's fuzzingclient: the core's behaviour,
not a facade's, is what the report judges. It accepts permessage-deflate (RFC 7692) with
a fresh PerMessageDeflate per connection, so cases 12.* and 13.* test the core's
extension too. Run: python wsconn_echo.py PORT
"""

import asyncio
import sys

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import AcceptConnection, Message, Request
from wsproto_lite.extensions import PerMessageDeflate

MAX_MESSAGE = 64 << 20  # section 9 sends up to 16 MiB
READ_SIZE = 65536


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    ws = WSConnection(
        ConnectionType.SERVER,
        max_message_size=MAX_MESSAGE,
        auto_reply=True,
        whole_messages=True,
    )
    try:
        while ws.state is not ConnectionState.CLOSED:
            data = await reader.read(READ_SIZE)
            try:
                ws.receive_data(data or None)
            except RemoteProtocolError as exc:
                writer.write(ws.send(exc.event_hint))
                break
            out = bytearray()
            for event in ws.events():
                if isinstance(event, Request):
                    # One instance per connection: it holds this connection's zlib state.
                    out += ws.send(AcceptConnection(extensions=[PerMessageDeflate()]))
                elif isinstance(event, Message) and ws.state is ConnectionState.OPEN:
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


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("listening on", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9001))
