"""permessage-deflate (RFC 7692) against real peers, both roles, over loopback.

Peers: headless Chromium (Debian's `chromium`, driven over its DevTools pipe) and Node's `ws`
(pinned in tests/interop/package.json) as clients of our asyncio and blocking servers; a `ws`
server that our asyncio and blocking clients connect to; and `websockets` both ways. Every
connection negotiates permessage-deflate, which the test asserts on both ends, then echoes
text and binary messages of 0 B, 1 KiB and 1 MiB, one after another on the same connection
(so context takeover is exercised), each compared with what was sent.

Where the peer reports its TCP byte counts (Node), the test also checks that the bytes on the
wire are far fewer than the payload: both directions really compressed.

Missing prerequisites (chromium, node/npm, or a failed `npm ci`) skip with the reason, except
with CI=true, where they fail: scripts/test.sh installs them (tests/interop/install.sh).
"""

import asyncio
import contextlib
import json
import os
import random
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirDeflate
from websockets.sync.server import ServerConnection

from transports import asyncio as aio
from transports import blocking
from wsproto_lite.extensions import PerMessageDeflate

from .blocking_helpers import (
    GUARD,
    asyncio_server,
    blocking_server,
    new_threads_end,
    their_client,
    url,
    websockets_server,
)

INTEROP = Path(__file__).parent / "interop"
EXCHANGE_JS = INTEROP / "exchange.js"
OURS = ["asyncio", "blocking"]
KiB, MiB = 1 << 10, 1 << 20
# Sent in this order on one connection; each echo is checked before the next is sent.
SPECS: List[Tuple[str, int]] = [(k, n) for k in ("text", "binary") for n in (0, KiB, MiB)]
RAW = sum(n for _, n in SPECS)  # payload bytes each way
# The payloads are half noise at worst, so deflate gets them well under this share of RAW
# (about a third, measured); an uncompressed direction would be just over RAW.
COMPRESSED = 0.6
EXCHANGE_TIMEOUT = 20.0  # seconds for one whole exchange: a guard that fails, never a pace
NPM_TIMEOUT = 300.0
# ws's own permessage-deflate header, as Chromium and ws report what the server agreed to.
DEFLATE = "permessage-deflate"


def missing(what: str) -> None:
    """A prerequisite is not there: skip, or fail under CI=true (the test command installs it)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true and %s (scripts/test.sh installs it: tests/interop/install.sh)" % what)
    pytest.skip(what)


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    new_threads_end(before)


# -- payloads (the Python side's own; the JavaScript side makes its own in exchange.js) ------

WORDS = ["deflate ", "héllo ", "✓ ", "window ", "données ", "—\n", "0123456789 ", "frame "]


def payload(kind: str, size: int) -> Union[str, bytes]:
    """Text of exactly `size` UTF-8 bytes (multi-byte characters included), or bytes that
    alternate 64-byte runs of a counter and of noise: part compresses, part does not."""
    rng = random.Random(size)
    if kind == "text":
        parts, left = [], size
        while left > 0:
            word = rng.choice(WORDS)
            n = len(word.encode())
            parts.append(word if n <= left else "x" * left)
            left -= min(n, left)
        return "".join(parts)
    block = bytes(range(64))
    out = b"".join(block + rng.randbytes(64) for _ in range(size // 128 + 1))
    return out[:size]


def differs(sent: Union[str, bytes], got: Union[str, bytes]) -> Optional[str]:
    """None when `got` is `sent`; else a short description (never the whole megabyte)."""
    if type(got) is not type(sent):
        return "got %s of %d, sent %s" % (type(got).__name__, len(got), type(sent).__name__)
    if got == sent:
        return None
    at = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b), min(len(sent), len(got)))
    return "sent %d, got %d; first difference at index %d" % (len(sent), len(got), at)


def deflate_on(extensions: List[Any]) -> bool:
    """Our core's extensions hold an enabled PerMessageDeflate."""
    return any(isinstance(e, PerMessageDeflate) and e.enabled() for e in extensions)


def check_js_results(peer: str, result: Any, specs: List[Tuple[str, int]] = SPECS) -> None:
    """exchange.js's verdict: every spec echoed back equal, and a 1000 close."""
    assert [(r["kind"], r["size"]) for r in result["results"]] == specs, result
    bad = [
        r
        for r in result["results"]
        if not (r["ok"] and r["gotKind"] == r["kind"] and r["gotSize"] == r["size"])
    ]
    assert not bad, "%s: echoes that differ from what was sent: %r" % (peer, bad)
    assert result["close"]["code"] == 1000, "%s: closed with %r" % (peer, result["close"])


# -- our servers, recording what each connection negotiated ---------------------------------


@contextlib.contextmanager
def our_server(kind: str, negotiated: List[List[Any]]) -> Iterator[int]:
    """Our `kind` echo server on a free loopback port; each connection appends its core's
    extensions (right after the 101) to `negotiated`. Yields the port."""
    if kind == "asyncio":

        async def async_echo(request: aio.Request, ws: aio.WebSocket) -> None:
            await ws.accept()
            negotiated.append(ws._conn.extensions)
            async for message in ws:
                await ws.send(message)

        with asyncio_server(async_echo) as port:
            yield port
    else:

        def echo(request: blocking.Request, ws: blocking.WebSocket) -> None:
            ws.accept()
            negotiated.append(ws._conn.extensions)
            for message in ws:
                ws.send(message)

        with blocking_server(echo) as server:
            yield server.port


# -- our clients ------------------------------------------------------------------------------


def our_client_exchange(kind: str, target: str) -> List[Any]:
    """Our `kind` client sends every spec to an echo server at `target` and checks each echo;
    returns the core's extensions as negotiated."""
    failures: List[str] = []
    if kind == "asyncio":

        async def run() -> List[Any]:
            async with aio.connect(target, open_timeout=GUARD, close_timeout=GUARD) as ws:
                extensions: List[Any] = ws._conn.extensions
                for spec in SPECS:
                    sent = payload(*spec)
                    await ws.send(sent)
                    problem = differs(sent, await ws.receive())
                    if problem:
                        failures.append("%s %d B: %s" % (spec + (problem,)))
            return extensions

        extensions = asyncio.run(asyncio.wait_for(run(), EXCHANGE_TIMEOUT))
    else:
        deadline = time.monotonic() + EXCHANGE_TIMEOUT
        with blocking.connect(target, open_timeout=GUARD, close_timeout=GUARD) as ws:
            extensions = ws._conn.extensions
            for spec in SPECS:
                sent = payload(*spec)
                ws.send(sent)
                got = ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                problem = differs(sent, got)
                if problem:
                    failures.append("%s %d B: %s" % (spec + (problem,)))
    assert not failures, "our %s client, echoes that differ: %s" % (kind, failures)
    return extensions


# -- subprocess plumbing -------------------------------------------------------------------------


class Reader:
    """Messages split by `sep` from a pipe's fd; every read is bounded by a deadline."""

    def __init__(self, fd: int, sep: bytes, describe: Callable[[], str]) -> None:
        self.fd = fd
        self.sep = sep
        self.describe = describe  # what to say about the peer when it ends or stalls
        self.buffer = b""

    def next(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while self.sep not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, left))
            if not ready:
                raise AssertionError("no answer within %.0f s; %s" % (timeout, self.describe()))
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise AssertionError("the peer closed its output; %s" % self.describe())
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(self.sep)
        return message


def tail(path: Path) -> str:
    try:
        return "its stderr ends: %r" % path.read_text(errors="replace")[-1500:]
    except OSError:
        return "no stderr"


def stop(proc: "subprocess.Popen[bytes]", timeout: float = GUARD) -> None:
    """Wait for a process we asked to stop; kill its process group if it lingers."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)  # its own group (start_new_session): only what we started
        proc.wait(timeout)


# -- Node's ws ----------------------------------------------------------------------------------


def ws_installed() -> bool:
    pinned = json.loads((INTEROP / "package.json").read_text())["dependencies"]["ws"]
    try:
        found = json.loads((INTEROP / "node_modules" / "ws" / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(found.get("version") == pinned)


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with tests/interop's pinned `ws` installed (npm ci, once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        absent = [name for name, path in (("node", node), ("npm", npm)) if path is None]
        missing("Node.js is missing: %s not on PATH" % " and ".join(absent))
    assert node is not None and npm is not None
    if not ws_installed():
        try:
            done = subprocess.run(
                [npm, "ci", "--prefix", str(INTEROP), "--no-audit", "--no-fund"],
                capture_output=True,
                timeout=NPM_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            missing("npm ci --prefix tests/interop did not finish in %d s" % NPM_TIMEOUT)
        else:
            if done.returncode != 0 or not ws_installed():
                missing(
                    "npm ci --prefix tests/interop failed (exit %d): %s"
                    % (done.returncode, done.stderr.decode(errors="replace")[-800:])
                )
    return node


class NodeServer:
    """tests/interop/ws_server.js: a `ws` echo server with permessage-deflate."""

    def __init__(self, node: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [node, str(INTEROP / "ws_server.js")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        self.lines = Reader(self.proc.stdout.fileno(), b"\n", lambda: tail(self.log))
        self.port = int(self.next()["port"])

    def next(self, timeout: float = GUARD) -> Any:
        """The server's next JSON line: the port, then one record per ended connection."""
        return json.loads(self.lines.next(timeout))

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()  # ws_server.js stops when its stdin ends
        try:
            stop(self.proc)
        finally:
            self.proc.stdout.close()
        assert self.proc.returncode == 0, "ws_server.js exited %d; %s" % (
            self.proc.returncode,
            tail(self.log),
        )


@pytest.fixture
def node_server(node: str, tmp_path: Path) -> Iterator[NodeServer]:
    server = NodeServer(node, tmp_path / "ws_server.stderr")
    try:
        yield server
    finally:
        server.close()


def node_client(node: str, target: str, specs: List[Tuple[str, int]] = SPECS) -> Any:
    """Run tests/interop/ws_client.js against `target`; its JSON verdict."""
    done = subprocess.run(
        [
            node,
            str(INTEROP / "ws_client.js"),
            target,
            json.dumps(specs),
            str(int(EXCHANGE_TIMEOUT * 1000)),
        ],
        capture_output=True,
        timeout=EXCHANGE_TIMEOUT + GUARD,
    )
    assert done.returncode == 0, "ws_client.js exited %d: %s" % (
        done.returncode,
        done.stderr.decode(errors="replace")[-1500:],
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("ours", OURS)
def test_node_ws_client_with_our_server(ours: str, node: str) -> None:
    negotiated: List[List[Any]] = []
    with our_server(ours, negotiated) as port:
        result = node_client(node, url(port))
    check_js_results("ws client -> our %s server" % ours, result)
    assert DEFLATE in result["extensions"].split(","), result["extensions"]
    assert result["header"].startswith(DEFLATE), result["header"]
    assert len(negotiated) == 1 and deflate_on(negotiated[0]), negotiated
    # Compressed both ways: ws_client.js compresses every message (threshold 0), we do too.
    assert result["bytesWritten"] < COMPRESSED * RAW, result
    assert result["bytesRead"] < COMPRESSED * RAW, result


@pytest.mark.parametrize("ours", OURS)
def test_our_client_with_node_ws_server(ours: str, node_server: NodeServer) -> None:
    extensions = our_client_exchange(ours, url(node_server.port))
    assert deflate_on(extensions), extensions
    record = node_server.next()  # written when the connection ended
    assert DEFLATE in record["extensions"].split(","), record
    assert record["header"].startswith(DEFLATE), record
    assert record["code"] == 1000, record
    assert record["bytesRead"] < COMPRESSED * RAW, record  # what our client sent
    assert record["bytesWritten"] < COMPRESSED * RAW, record


# -- websockets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ours", OURS)
def test_websockets_client_with_our_server(ours: str) -> None:
    negotiated: List[List[Any]] = []
    failures: List[str] = []
    with our_server(ours, negotiated) as port, their_client(port) as ws:
        theirs = ws.protocol.extensions
        header = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        for spec in SPECS:
            sent = payload(*spec)
            ws.send(sent)
            problem = differs(sent, ws.recv(timeout=EXCHANGE_TIMEOUT))
            if problem:
                failures.append("%s %d B: %s" % (spec + (problem,)))
    assert not failures, "websockets client -> our %s server: %s" % (ours, failures)
    assert any(isinstance(e, TheirDeflate) for e in theirs), theirs
    assert header.startswith(DEFLATE), header
    assert len(negotiated) == 1 and deflate_on(negotiated[0]), negotiated


@pytest.mark.parametrize("ours", OURS)
def test_our_client_with_websockets_server(ours: str) -> None:
    theirs: List[Any] = []

    def their_echo(ws: ServerConnection) -> None:
        theirs.append(ws.protocol.extensions)
        for message in ws:
            ws.send(message)

    with websockets_server(their_echo) as port:
        extensions = our_client_exchange(ours, url(port))
    assert deflate_on(extensions), extensions
    assert len(theirs) == 1 and any(isinstance(e, TheirDeflate) for e in theirs[0]), theirs


# -- headless Chromium ------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--remote-debugging-pipe",  # DevTools protocol on fds 3 (in) and 4 (out), NUL-separated
    "--no-sandbox",  # as root the sandbox cannot start; loopback pages of our own only
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
]


def chromium_binary() -> Optional[str]:
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """Headless Chromium spoken to over --remote-debugging-pipe (the DevTools protocol)."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        self.log = log
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        # The pipe ends become the browser's fds 3 and 4 through the shell's redirections.
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                ["sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>&2', "sh", binary]
                + CHROMIUM_FLAGS
                + ["--user-data-dir=%s" % profile],
                stdin=to_browser,
                stdout=from_browser,
                stderr=err,
                start_new_session=True,
            )
        os.close(to_browser)
        os.close(from_browser)
        self.messages = Reader(self._in, b"\0", lambda: tail(self.log))
        self._id = 0

    def call(
        self,
        method: str,
        params: Any = None,
        session: Optional[str] = None,
        timeout: float = GUARD,
    ) -> Any:
        """Send one DevTools command and return its result (events in between are dropped)."""
        self._id += 1
        message: Any = {"id": self._id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data) :]
        deadline = time.monotonic() + timeout
        while True:
            answer = json.loads(self.messages.next(max(0.0, deadline - time.monotonic())))
            if answer.get("id") == self._id:
                assert "error" not in answer, "%s: %r" % (method, answer["error"])
                return answer["result"]

    def run(self, expression: str, timeout: float) -> Any:
        """Evaluate `expression` (awaiting the promise it gives) in a fresh about:blank tab."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        try:
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            session = attached["sessionId"]
            answer = self.call(
                "Runtime.evaluate",
                {"expression": expression, "awaitPromise": True, "returnByValue": True},
                session,
                timeout,
            )
        finally:
            self.call("Target.closeTarget", {"targetId": target})
        details = answer.get("exceptionDetails")
        assert details is None, "the page threw: %s" % (
            details.get("exception", {}).get("description") or details
        )
        return answer["result"]["value"]

    def close(self) -> None:
        try:
            with contextlib.suppress(AssertionError, OSError):
                self.call("Browser.close")
            stop(self.proc, 10)
        finally:
            os.close(self._in)
            os.close(self._out)


def page_exchange(target: str, specs: List[Tuple[str, int]] = SPECS) -> str:
    """The script for Chromium.run: exchange.js's exchange() in the page, against `target`."""
    return "%s\n;wsInterop.exchange(() => new WebSocket(%s), %s, %d)" % (
        EXCHANGE_JS.read_text(),
        json.dumps(target),
        json.dumps(specs),
        EXCHANGE_TIMEOUT * 1000,
    )


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = chromium_binary()
    if binary is None:
        missing("Chromium is missing: no chromium on PATH (Debian: apt-get install chromium)")
    assert binary is not None
    folder = tmp_path_factory.mktemp("chromium")
    browser = Chromium(binary, folder / "profile", folder / "stderr")
    try:
        version = browser.call("Browser.getVersion", timeout=30)  # the first start is slow
        assert "Chrome" in version["product"], version
        yield browser
    finally:
        browser.close()


@pytest.mark.parametrize("ours", OURS)
def test_chromium_with_our_server(ours: str, chromium: Chromium) -> None:
    negotiated: List[List[Any]] = []
    with our_server(ours, negotiated) as port:
        result = chromium.run(page_exchange(url(port)), EXCHANGE_TIMEOUT + GUARD)
    check_js_results("Chromium -> our %s server" % ours, result)
    # ws.extensions in the browser: the response's Sec-WebSocket-Extensions as it took it.
    assert result["extensions"].startswith(DEFLATE), result["extensions"]
    assert len(negotiated) == 1 and deflate_on(negotiated[0]), negotiated
