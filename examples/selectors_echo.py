"""A WebSocket echo server on `selectors`: the whole loop that drives a WSConnection.

Non-blocking sockets, one WSConnection per client, automatic replies and whole
messages. It shows what every integration must get right: feed every read to
receive_data() (None at EOF), act on every event, write what send() and
data_to_send() return without losing partial writes, stop reading while too much
waits to be written, and close TCP once the state is CLOSED.

    python examples/selectors_echo.py [--host 127.0.0.1] [--port 8765]
"""

import argparse
import logging
import selectors
import signal
import socket
import time

from wsproto_lite import ConnectionState, ConnectionType, WSConnection
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    ProtocolViolation,
    Request,
)

READ_SIZE = 65536
HIGH_WATER = 256 * 1024  # stop reading from a client while this many bytes wait to go out
HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to send its whole request head
CLOSE_TIMEOUT = 5.0  # seconds for the rest of a close: our last bytes, the peer's, its FIN

log = logging.getLogger("selectors_echo")

_ACCEPT = "accept"  # selector keys: the listening socket, the wake-up socket
_WAKE = "wake"


class Client:
    """One accepted socket, its WebSocket state machine and the bytes waiting to go out."""

    def __init__(self, sock: socket.socket, max_message_size: int | None) -> None:
        self.sock = sock
        self.ws = WSConnection(
            ConnectionType.SERVER,
            max_message_size=max_message_size,
            auto_reply=True,  # pongs, the close echo and our close after a violation
            whole_messages=True,
        )
        self.out = bytearray()
        self.interest = selectors.EVENT_READ
        self.deadline: float | None = time.monotonic() + HANDSHAKE_TIMEOUT
        self.eof = False  # the peer closed its side of TCP
        self.closing = False  # the WebSocket is finished; only TCP remains to close
        self.draining = False  # we sent our FIN and discard input until the peer's
        self.closed = False


class EchoServer:
    """Echo every message back to its sender; single-threaded, one selector for all.

    The socket listens as soon as the object exists (port 0 picks a free port, see
    `port`); serve_forever() runs the loop until stop() is called from any thread or
    a signal handler, then closes every connection with 1001 and returns.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        max_message_size: int | None = 1 << 20,
        high_water: int = HIGH_WATER,
    ) -> None:
        self.max_message_size = max_message_size
        self.high_water = high_water
        self._clients: set[Client] = set()
        self._stopping = False
        self._closed = False
        self._listener: socket.socket | None = None
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            listener = socket.create_server((host, port))
        except OSError:
            self.close()
            raise
        self._listener = listener
        for sock in (listener, self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._sel.register(listener, selectors.EVENT_READ, _ACCEPT)
        self._sel.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self.host, self.port = listener.getsockname()[:2]

    @property
    def url(self) -> str:
        """The ws:// URL the server listens on."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "ws://%s:%d/" % (host, self.port)

    def stop(self) -> None:
        """Ask serve_forever() to close every connection and return; safe from any thread."""
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # already closed, or the wake-up buffer is full: a stop is pending anyway

    def serve_forever(self) -> None:
        """Run the loop until stop(); every socket is closed when it returns."""
        try:
            while self._clients or not self._stopping:
                for key, mask in self._sel.select(self._timeout()):
                    if key.data is _ACCEPT:
                        self._accept()
                    elif key.data is _WAKE:
                        self._shutdown()
                    elif not key.data.closed:  # not closed by an earlier key of this batch
                        client = key.data
                        if mask & selectors.EVENT_READ:
                            self._read(client)
                        if mask & selectors.EVENT_WRITE and not client.closed:
                            self._update(client)
                self._expire()
        finally:
            self.close()

    def close(self) -> None:
        """Close every socket at once, without closing handshakes (serve_forever() ends with it)."""
        if self._closed:
            return
        self._closed = True
        for client in list(self._clients):
            self._close(client)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._sel.close()

    def __enter__(self) -> "EchoServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the loop's steps ------------------------------------------------------------

    def _accept(self) -> None:
        while self._listener is not None:  # None once _shutdown() closed it
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, for one: try again later
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            client = Client(sock, self.max_message_size)
            self._clients.add(client)
            self._sel.register(sock, client.interest, client)
            log.info("%s connected", addr)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the peer: as final as EOF
            data = b""
        if client.draining:
            if not data:
                self._close(client)  # the peer's FIN: TCP is closed both ways
            return  # anything else after our close frame is discarded
        if not data:
            client.eof = True
        self._receive(client, data or None)

    def _receive(self, client: Client, data: bytes | None) -> None:
        """Feed the bytes (None at EOF) and answer every event they produce."""
        ws = client.ws
        try:
            ws.receive_data(data)
        except RemoteProtocolError as exc:
            # Only the opening handshake raises: the request is unacceptable, and
            # event_hint is the HTTP response to send (400, 405, 426 or 431).
            log.info("bad request: %s", exc)
            client.out += ws.send(exc.event_hint)
            self._update(client)
            return
        for event in ws.events():
            if isinstance(event, Request):
                client.out += ws.send(AcceptConnection())
                client.deadline = None
            elif isinstance(event, Message):
                # Not once our own close went out (shutdown) or the peer hit EOF.
                if ws.state is ConnectionState.OPEN:
                    client.out += ws.send(Message(data=event.data))
            elif isinstance(event, ProtocolViolation):
                # auto_reply already queued our close frame (event.response()).
                log.info("violation %d: %s", event.code, event.reason)
            elif isinstance(event, CloseConnection):
                # auto_reply queued the echo of the peer's close; 1006 (EOF) needs none.
                log.info("closed %d %s", event.code, event.reason or "")
            # Ping and Pong need nothing: auto_reply queues the pong.
        client.out += ws.data_to_send()  # after every receive_data(): the automatic replies
        self._update(client)

    def _update(self, client: Client) -> None:
        """Write what we can, then wait for the right events, or close TCP when done."""
        while client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # the peer is gone; nothing more can be delivered
                self._close(client)
                return
            del client.out[:sent]
        finished = client.eof or client.ws.state is ConnectionState.CLOSED
        if finished and not client.closing:
            client.closing = True
            client.deadline = time.monotonic() + CLOSE_TIMEOUT
        if finished and not client.out:
            if client.eof:
                self._close(client)
                return
            if not client.draining:
                # RFC 6455 §7.1.1: the server closes TCP first. Half-close and read until
                # the peer's FIN: closing with unread input sends a reset, which can
                # destroy our close frame before the peer reads it.
                try:
                    client.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    self._close(client)
                    return
                client.draining = True
        interest = selectors.EVENT_WRITE if client.out else 0
        if client.draining or (not finished and len(client.out) <= self.high_water):
            interest |= selectors.EVENT_READ  # backpressure: no reading while over the mark
        if interest != client.interest:
            client.interest = interest
            self._sel.modify(client.sock, interest, client)

    def _shutdown(self) -> None:
        """Stop accepting; say goodbye (1001) to open connections, drop the others."""
        try:
            self._wake_r.recv(64)
        except OSError:
            pass
        if self._stopping:
            return
        self._stopping = True
        if self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None
        for client in list(self._clients):
            state = client.ws.state
            if state is ConnectionState.OPEN:
                client.out += client.ws.send(CloseConnection(1001, "server shutting down"))
                client.deadline = time.monotonic() + CLOSE_TIMEOUT
                self._update(client)
            elif state is ConnectionState.CONNECTING:
                self._close(client)  # no handshake answered yet: nothing to say

    def _timeout(self) -> float | None:
        deadlines = [c.deadline for c in self._clients if c.deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        for client in list(self._clients):
            if client.deadline is not None and now >= client.deadline:
                log.info("timed out in state %r", client.ws.state)
                self._close(client)

    def _close(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        self._clients.discard(client)
        self._sel.unregister(client.sock)
        client.sock.close()


def main(argv: "list[str] | None" = None) -> int:
    """Command line: serve until Ctrl-C (or SIGTERM), then close every connection."""
    parser = argparse.ArgumentParser(description="WebSocket echo server (selectors + wsproto_lite)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--max-message-size", type=int, default=1 << 20, help="bytes (default 1 MiB; 0: no limit)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = EchoServer(args.host, args.port, max_message_size=args.max_message_size or None)
    # A signal handler only wakes the loop up, which then shuts down in order.
    signal.signal(signal.SIGINT, lambda signum, frame: server.stop())
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda signum, frame: server.stop())
    print("echo server on %s (Ctrl-C to stop)" % server.url, flush=True)
    server.serve_forever()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
