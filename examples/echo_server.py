"""A WebSocket echo server on transports.asyncio that also serves a page to try it with.

    python examples/echo_server.py [--host 127.0.0.1] [--port 8765]

then open the URL it prints. GET / answers the page (examples/static/echo.html), whose
script connects to GET /ws on the same host and port: the echo.

The transport's serve() speaks only WebSocket, so this file runs a small HTTP/1.1 server
on asyncio streams that routes each request itself and hands the upgrade request to
websocket_upgrade(): the way to put the WebSocket facade inside any framework that
parses HTTP requests on its own. Ctrl-C (or SIGTERM) closes every WebSocket with 1001
(going away), stops listening and exits.
"""

import argparse
import asyncio
import http
import logging
import signal
from pathlib import Path

from transports.asyncio import WebSocket, WebSocketError, websocket_upgrade

PAGE = Path(__file__).resolve().parent / "static" / "echo.html"
MAX_MESSAGE = 64 * 1024  # bytes; a longer message closes its connection with 1009
HEAD_LIMIT = 16 * 1024  # bytes of request line and headers accepted (431 beyond)
HEAD_TIMEOUT = 10.0  # seconds a client has to send its request line and headers
CLOSE_TIMEOUT = 5.0  # seconds a closing handshake may take before the TCP connection is cut
PING_INTERVAL = 20.0  # seconds between keepalive pings; no pong within 20 s closes with 1011

log = logging.getLogger("echo_server")


class HttpRequest:
    """One parsed request head, in the shape websocket_upgrade() takes (Microdot's)."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.method = method
        self.url = target  # path and query as sent; websocket_upgrade() prefers it to path
        self.path = target.partition("?")[0]
        self.headers = headers  # (name, value) pairs as received
        self.sock = (reader, writer)  # the upgrade takes the connection over from these


class BadRequest(Exception):
    """The request head is not HTTP/1.x."""


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, list[tuple[str, str]]]:
    """Read one request head: (method, target, headers). Raises BadRequest if malformed."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(lines[0])
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name.strip() != name:
            raise BadRequest(line)
        headers.append((name, value.strip(" \t")))
    return parts[0], parts[1], headers


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Send a whole response and close the connection (no keep-alive, no chunking)."""
    if not body and status >= 400:
        body = b"%d %s\n" % (status, http.HTTPStatus(status).phrase.encode())
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-cache",
        "Connection: close",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass  # the client went away; nothing to tell it


class EchoServer:
    """The HTTP listener: GET / gives the page, GET /ws the echo WebSocket."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.host = host
        self.port = port
        text = PAGE.read_text(encoding="utf-8").replace("__MAX_MESSAGE__", str(MAX_MESSAGE))
        self.page = text.encode("utf-8")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # one per TCP connection
        self._reading: set[asyncio.StreamWriter] = set()  # connections reading a request head
        self._websockets: set[WebSocket] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        """The page's address; a wildcard host is shown as the loopback address."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        """Start listening (port 0 picks a free port; `port` then holds it)."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, close every WebSocket with 1001 and wait for every connection."""
        assert self._server is not None
        self._stopping = True
        self._server.close()
        for writer in list(self._reading):
            writer.close()  # idle (browsers open spare connections) or slow: nothing to answer
        # Each close sends 1001 and waits (at most CLOSE_TIMEOUT) for the peer's close.
        await asyncio.gather(*(ws.close(1001, "server stopping") for ws in list(self._websockets)))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        address = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{address[0]}:{address[1]}"
        try:
            await self._serve(reader, writer, peer)
        finally:
            self._tasks.discard(task)
            writer.close()  # a no-op when the WebSocket has closed the socket already

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self._reading.add(writer)
        try:
            method, target, headers = await asyncio.wait_for(read_request(reader), HEAD_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return  # too slow, or gone before the request was complete: just close
        except asyncio.LimitOverrunError:
            return await respond(writer, 431)
        except BadRequest:
            return await respond(writer, 400)
        finally:
            self._reading.discard(writer)
        request = HttpRequest(method, target, headers, reader, writer)
        log.info("%s %s %s", peer, method, target)
        if request.path == "/ws":
            if method != "GET":
                return await respond(writer, 405, headers=(("Allow", "GET"),))
            if self._stopping:
                return await respond(writer, 503)
            await self._echo(request, peer)
        elif request.path == "/":
            if method != "GET":
                return await respond(writer, 405, headers=(("Allow", "GET"),))
            await respond(writer, 200, self.page, "text/html; charset=utf-8")
        else:
            await respond(writer, 404)

    async def _echo(self, request: HttpRequest, peer: str) -> None:
        try:
            ws = await websocket_upgrade(
                request,
                max_message_length=MAX_MESSAGE,
                close_timeout=CLOSE_TIMEOUT,
                ping_interval=PING_INTERVAL,
            )
        except WebSocketError as exc:
            # Not a valid upgrade: websocket_upgrade() has answered (400, 426...) already.
            log.info("%s %s", peer, exc.reason)
            return
        self._websockets.add(ws)
        log.info("%s WebSocket open", peer)
        try:
            async for message in ws:  # ends quietly when the client closes with 1000/1001
                await ws.send(message)
        except WebSocketError:
            pass  # any other ending (1006 lost, 1009 too big, 4000...): the code is logged below
        finally:
            await ws.close()  # a no-op if closed already; else runs the closing handshake
            self._websockets.discard(ws)
        reason = f" ({ws.close_reason})" if ws.close_reason else ""
        log.info("%s WebSocket closed with code %s%s", peer, ws.close_code, reason)


async def main(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, then shut down cleanly."""
    server = EchoServer(host, port)
    await server.start()
    print(f"open {server.url} in a browser (Ctrl-C stops the server)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:
            pass  # Windows: Ctrl-C cancels this task instead, and the finally below runs
    try:
        await stop.wait()
    finally:
        print("stopping", flush=True)
        await server.stop()
        print("stopped", flush=True)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass  # Windows: the shutdown ran in main()'s finally
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
