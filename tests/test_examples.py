"""examples/selectors_echo.py against real peers over 127.0.0.1.

The server runs in a thread on a free port; every test stops it and joins the thread.
Peers: the `websockets` sync client, and raw sockets for what no polite client sends
(a bad request, an unmasked frame, a disconnect in the middle of a frame). Timeouts
are guards that fail a test; nothing waits on a clock to pace it.
"""

import base64
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "selectors_echo.py"
DOCS = ROOT / "docs"
GUARD = 10.0  # seconds before a stuck step fails the test
KEY = b"\x37\xfa\x21\x3d"


def load_example():
    spec = importlib.util.spec_from_file_location("selectors_echo", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


selectors_echo = load_example()


@pytest.fixture
def start_server():
    """Start EchoServer(**options) in a thread; stop it and check it is gone afterwards."""
    running = []

    def start(**options):
        server = selectors_echo.EchoServer("127.0.0.1", 0, **options)
        failed = []

        def run():
            try:
                server.serve_forever()
            except BaseException as exc:  # reported by the teardown below
                failed.append(exc)
                raise

        thread = threading.Thread(target=run, name="selectors-echo", daemon=True)
        thread.start()
        running.append((server, thread, failed))
        return server

    yield start
    for server, thread, failed in running:
        server.stop()
        thread.join(GUARD)
        assert not thread.is_alive(), "the server did not stop"
        assert not failed, "the server loop raised %r" % failed


def ws_connect(server, **options):
    options.setdefault("max_size", None)
    return connect(
        server.url,
        open_timeout=GUARD,
        close_timeout=GUARD,
        ping_interval=None,
        proxy=None,
        **options,
    )


# -- raw peer helpers --------------------------------------------------------------------


def raw_connect(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
    return sock


def read_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def request_head(target="/", extra=b""):
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET " + target.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )


def read_head(sock):
    """Read up to the end of the HTTP response head; return (head, bytes after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "EOF before the end of the response head: %r" % data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def masked_frame(opcode, payload, fin=True):
    """A client frame, built here so the test shares no code with the library."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    pad = (KEY * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")
    return head + KEY + masked


def parse_server_frames(data):
    """Unmasked server frames as (opcode, payload) tuples; fails on a partial frame."""
    frames = []
    while data:
        assert len(data) >= 2 and not data[1] & 0x80, data
        n = data[1] & 0x7F
        pos = 2
        if n == 126:
            (n,) = struct.unpack("!H", data[2:4])
            pos = 4
        elif n == 127:
            (n,) = struct.unpack("!Q", data[2:10])
            pos = 10
        assert len(data) >= pos + n, "partial frame %r" % data
        frames.append((data[0] & 0x0F, data[pos : pos + n]))
        data = data[pos + n :]
    return frames


# -- the websockets client ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["hello", "ünïcödé ✓", b"\x00\x01\xfe\xff", "", b""],
    ids=["text", "unicode", "binary", "empty-text", "empty-binary"],
)
def test_websockets_client_message_is_echoed(start_server, message):
    server = start_server()
    with ws_connect(server) as ws:
        ws.send(message)
        assert ws.recv(timeout=GUARD) == message


def test_websockets_client_2_mib_message_is_echoed_under_a_raised_limit(start_server):
    server = start_server(max_message_size=4 << 20)
    message = os.urandom(2 << 20)
    with ws_connect(server) as ws:
        ws.send(message)
        assert ws.recv(timeout=GUARD) == message


def test_message_over_the_default_limit_closes_1009(start_server):
    server = start_server()
    with ws_connect(server) as ws:
        ws.send(b"x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009


def test_websockets_client_ping_gets_pong(start_server):
    server = start_server()
    with ws_connect(server) as ws:
        pong = ws.ping(b"are you there?")
        assert pong.wait(GUARD)


def test_close_1000_round_trip_and_server_closes_tcp(start_server):
    server = start_server()
    with ws_connect(server) as ws:
        ws.send("last words")
        assert ws.recv(timeout=GUARD) == "last words"
        ws.close(1000, "bye")
        # websockets waits (close_timeout) for the server to close TCP first.
        assert ws.close_code == 1000
        assert ws.close_reason == "bye"


def test_server_stop_closes_open_connections_with_1001(start_server):
    server = start_server()
    with ws_connect(server) as ws:
        ws.send("hi")
        assert ws.recv(timeout=GUARD) == "hi"
        server.stop()
        with pytest.raises(ConnectionClosed) as info:  # 1001 is ConnectionClosedOK
            ws.recv(timeout=GUARD)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001


# -- raw clients -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"400"),
        (request_head().replace(b"GET", b"POST"), b"405"),
        (request_head().replace(b"Version: 13", b"Version: 8"), b"426"),
        (request_head(extra=b"X-Big: " + b"a" * 20000 + b"\r\n"), b"431"),
    ],
    ids=["400-plain-http", "405-post", "426-version", "431-head-too-big"],
)
def test_bad_request_gets_http_error_then_eof(start_server, request_bytes, status):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_bytes)
        response = read_until_eof(sock)
    assert response.startswith(b"HTTP/1.1 " + status + b" "), response


def test_frames_sent_with_the_request_are_echoed(start_server):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_head() + masked_frame(1, b"early") + masked_frame(8, b"\x03\xe8"))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        frames = parse_server_frames(rest + read_until_eof(sock))
    assert frames == [(1, b"early"), (8, b"\x03\xe8")]


def test_raw_ping_and_close_handshake_then_server_closes_tcp(start_server):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_head())
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(masked_frame(9, b"ping?") + masked_frame(8, b"\x03\xe8bye"))
        frames = parse_server_frames(rest + read_until_eof(sock))  # EOF: the server closed
    assert frames == [(10, b"ping?"), (8, b"\x03\xe8bye")]


def test_unmasked_frame_gets_close_1002_then_eof(start_server):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_head())
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert rest == b""
        sock.sendall(b"\x81\x02hi")  # RFC 6455 §5.1: a client must mask
        frames = parse_server_frames(read_until_eof(sock))
    assert len(frames) == 1
    opcode, payload = frames[0]
    assert opcode == 8
    assert struct.unpack("!H", payload[:2])[0] == 1002


def test_slow_reader_pauses_reading_until_the_buffer_drains(start_server, monkeypatch):
    # The client sends 12 MiB and reads nothing until the server has stopped reading
    # from it (its outgoing buffer went over the mark); then it reads every echo.
    paused = threading.Event()
    resumed = threading.Event()
    update = selectors_echo.EchoServer._update

    def watched_update(self, client):
        update(self, client)
        reading = client.interest & selectors_echo.selectors.EVENT_READ
        if not client.closed and not reading and not client.closing:
            paused.set()
        elif paused.is_set() and reading:
            resumed.set()

    monkeypatch.setattr(selectors_echo.EchoServer, "_update", watched_update)
    server = start_server(high_water=64 * 1024)
    messages = [bytes([i]) * (128 * 1024) for i in range(96)]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # no autotuning
    sock.settimeout(GUARD)
    errors = []
    with sock:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(request_head())
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ") and rest == b""

        def send_all():
            try:
                for message in messages:
                    sock.sendall(masked_frame(2, message))
            except OSError as exc:
                errors.append(exc)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        assert paused.wait(GUARD), "the server never stopped reading"
        expected = sum(10 + len(m) for m in messages)
        data = bytearray()
        while len(data) < expected:
            chunk = sock.recv(1 << 20)
            assert chunk, "EOF after %d of %d bytes" % (len(data), expected)
            data += chunk
        sender.join(GUARD)
        assert not sender.is_alive() and not errors
    assert resumed.is_set()
    assert parse_server_frames(bytes(data)) == [(2, m) for m in messages]


@pytest.mark.parametrize("cut", [1, 2, 6, 9], ids=["header", "length", "mask", "payload"])
def test_disconnect_mid_frame_leaves_the_server_serving(start_server, cut):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_head())
        head, _ = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(masked_frame(2, b"0123456789")[:cut])
    with ws_connect(server) as ws:
        ws.send("still there?")
        assert ws.recv(timeout=GUARD) == "still there?"


def test_disconnect_inside_the_request_head_leaves_the_server_serving(start_server):
    server = start_server()
    with raw_connect(server) as sock:
        sock.sendall(request_head()[:30])
    with ws_connect(server) as ws:
        ws.send(b"next")
        assert ws.recv(timeout=GUARD) == b"next"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_command_line_prints_its_url_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("echo server on ws://127.0.0.1:"), line
        url = line.split()[3]
        with connect(url, open_timeout=GUARD, close_timeout=GUARD, proxy=None) as ws:
            ws.send("before Ctrl-C")
            assert ws.recv(timeout=GUARD) == "before Ctrl-C"
            proc.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=GUARD)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        out, err = proc.communicate(timeout=GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
    assert "Traceback" not in err


# -- the documentation's code ------------------------------------------------------------


def python_blocks(path):
    """(line number, code) of every ``.. code-block:: python`` in a reST file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != ".. code-block:: python":
            i += 1
            continue
        i += 1
        while i < len(lines) and lines[i].strip().startswith(":"):
            i += 1  # directive options
        start = i
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            i += 1
        yield start + 1, textwrap.dedent("\n".join(lines[start:i]))


@pytest.mark.parametrize("page", ["core.rst", "handshake.rst", "from-wsproto.rst"])
def test_documentation_code_blocks_run(page):
    # Each page's blocks run in order in one namespace, as a reader would type them, in a
    # process of their own (from-wsproto.rst calls install_as_wsproto()).
    blocks = list(python_blocks(DOCS / page))
    assert blocks
    script = ["namespace = {'__name__': %r}" % ("docs_" + page.replace("-", "_").replace(".", "_"))]
    for line, code in blocks:
        where = "%s:%d" % (DOCS / page, line)
        script.append("exec(compile(%r, %r, 'exec'), namespace)" % (code, where))
    proc = subprocess.run(
        [sys.executable, "-c", "\n".join(script)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=GUARD * 6,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
