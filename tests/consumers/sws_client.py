"""simple-websocket's sync Client as an Autobahn echo client, on wsproto_lite or real wsproto.

    .consumers/venv/bin/python tests/consumers/sws_client.py URL AGENT [--real]
        [--case-timeout SECONDS]

URL is a running `wstest -m fuzzingserver` (ws://127.0.0.1:PORT). The client does the
usual dance with `simple_websocket.Client.connect()`: reads the count from /getCaseCount,
opens /runCase?case=N&agent=AGENT for N = 1..count and sends every message back as it
came (str as text, bytes as binary) until the server closes, then opens
/updateReports?agent=AGENT. Without --real, `wsproto_lite.install_as_wsproto()` runs
before simple_websocket is imported, so its `import wsproto` gets wsproto_lite; with
--real it gets the wsproto installed in the venv. The Client is used with its defaults
(no message size limit, no pings; it offers no permessage-deflate) in both modes, with
three changes made the same way in both, none of them in the WebSocket protocol:

- Its reader thread is a daemon thread, so a stuck case cannot keep the process alive.
- Its Host header carries the port. The Client sends `Host: 127.0.0.1` without one, and
  wstest answers "400 missing port in HTTP Host header ... and server runs on non-standard
  port"; RFC 7230 section 5.4 asks for the port there too.
- Frames that arrive in the same recv() as the 101 response are handed on. The Client's
  handshake() takes only the first event from `WSConnection.events()`; the frames after
  it stay in wsproto until the reader thread's next recv() brings more data, so wstest's
  first message waits for the case's close (and /getCaseCount's count, sent with the close
  right after the 101, is lost). Twisted writes the 101 and a case's first frames in one
  go, so this hits nearly every case. The reader thread here first runs the Client's own
  `_handle_events()` once, as `Server.handshake()` does; --as-shipped leaves that out.

Every case runs in a worker thread with a deadline (--case-timeout, default 120 s); a
case past it is abandoned and counted. Exits 0 when every case ended by itself, 1 when
some case overran or failed outside the protocol. For tests/consumers/autobahn.py, or:

    .venv/bin/python tests/autobahn/run.py fuzzingserver -- \
        .consumers/venv/bin/python tests/consumers/sws_client.py {url} {agent}
"""

import argparse
import socket
import sys
import threading
import time
import traceback
from contextlib import suppress
from typing import Any

DEFAULT_CASE_TIMEOUT = 120.0
_JOIN_GRACE = 5.0


class _DaemonThread(threading.Thread):
    """The Client's reader thread, as a daemon: the process may exit while it is stuck."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


def _use_wsproto(real: bool) -> str:
    """Make `import wsproto` give real wsproto or wsproto_lite; describe what it gives."""
    if not real:
        import wsproto_lite

        wsproto_lite.install_as_wsproto()
    import wsproto

    return f"wsproto is {wsproto.__name__} from {wsproto.__file__}"


def _connect(url: str, as_shipped: bool) -> Any:
    import simple_websocket  # type: ignore[import-untyped]

    class Client(simple_websocket.Client):  # type: ignore[misc]
        """simple_websocket.Client with the port in its Host header and, unless
        `as_shipped`, the frames that came with the 101 response handed on."""

        host: str
        port: int

        def handshake(self) -> None:
            self.host = f"{self.host}:{self.port}"
            super().handshake()

        def _thread(self) -> None:
            if not as_shipped:
                self.connected = self._handle_events()
            super()._thread()

    return Client.connect(url, thread_class=_DaemonThread)


def _hang_up(ws: Any) -> None:
    """End a connection the server has not ended: shut the socket so the reader wakes."""
    if ws.connected:
        with suppress(OSError):
            ws.sock.shutdown(socket.SHUT_RDWR)
    ws.thread.join(_JOIN_GRACE)


def _serve(ws: Any, deadline: float, echo: bool) -> list[Any]:
    """Receive until the server closes or the deadline; echo each message if `echo`."""
    from simple_websocket import ConnectionClosed

    received = []
    try:
        while (left := deadline - time.monotonic()) > 0:
            message = ws.receive(timeout=left)
            if message is None:
                break  # deadline: the server never closed
            received.append(message)
            if echo:
                ws.send(message)
    except (ConnectionClosed, OSError):
        pass  # the server closed (or dropped) the connection: the case is over
    finally:
        _hang_up(ws)
    return received


def _session(url: str, timeout: float, echo: bool, as_shipped: bool) -> list[Any]:
    """One connection to `url`, bounded by `timeout`; return the messages it got.

    Runs in a daemon worker thread; raises TimeoutError when the thread overran.
    """
    result: list[list[Any]] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            ws = _connect(url, as_shipped)
            result.append(_serve(ws, time.monotonic() + timeout, echo))
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    worker = threading.Thread(target=target, name=f"case {url}", daemon=True)
    worker.start()
    worker.join(timeout + 2 * _JOIN_GRACE)
    if worker.is_alive():
        raise TimeoutError(f"{url} still running after {timeout:.0f} s")
    if failure:
        raise failure[0]
    return result[0]


def run(base: str, agent: str, case_timeout: float, as_shipped: bool = False) -> int:
    """Run every case of the fuzzingserver at `base`; return how many went wrong."""
    messages = _session(f"{base}/getCaseCount", case_timeout, False, as_shipped)
    if not messages:
        raise RuntimeError("/getCaseCount sent no count (try without --as-shipped)")
    count = int(messages[0])
    print(f"{count} cases", flush=True)
    bad = 0
    for case in range(1, count + 1):
        url = f"{base}/runCase?case={case}&agent={agent}"
        try:
            _session(url, case_timeout, True, as_shipped)
        except Exception:  # one broken case must not stop the rest
            bad += 1
            print(f"case {case}:", traceback.format_exc(), file=sys.stderr, flush=True)
    _session(f"{base}/updateReports?agent={agent}", case_timeout, False, as_shipped)
    print(f"ran {count} cases; {bad} overran or failed", flush=True)
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the fuzzingserver, e.g. ws://127.0.0.1:9001")
    parser.add_argument("agent", help="the name wstest files the results under")
    parser.add_argument("--real", action="store_true", help="run on real wsproto")
    parser.add_argument("--case-timeout", type=float, default=DEFAULT_CASE_TIMEOUT)
    parser.add_argument(
        "--as-shipped",
        action="store_true",
        help="leave frames that came with the 101 response where the Client leaves them",
    )
    args = parser.parse_args(argv)
    print(_use_wsproto(args.real), flush=True)
    bad = run(args.url.rstrip("/"), args.agent, args.case_timeout, args.as_shipped)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
