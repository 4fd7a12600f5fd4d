"""Echo speed and heap on MicroPython's unix port: transports.uasyncio against Microdot 2.x.

    python benchmarks/micropython_unix.py [--quick] [--rounds N] [--servers LIST]
        [--duration SECONDS] [--connections N] [--no-bisect] [--micropython PATH]
        [--microdot auto|none|PATH] [--microdot-version V] [--json FILE]

Runs the MicroPython echo servers of benchmarks/mpy/ on the unix port (real sockets,
MicroPython's asyncio, `-X heapsize=8M`) and drives them from this CPython process with
a `websockets` asyncio client over 127.0.0.1. Servers, by name:

  ours           transports.uasyncio.serve, masking with wsproto_lite._viper (the default
                 on the unix port)
  ours-pure      the same with WSPROTO_LITE_NO_SPEEDUPS=1 in its environment
  microdot       Microdot's app with its own @with_websocket echo route
  ours@microdot  the same Microdot app with transports.uasyncio.with_websocket instead

Each round starts every server in turn (the order rotates), measures all cases on it and
stops it; medians of the rounds are printed with their spread, and ours/microdot with the
targets. Then, once per server, the smallest `-X heapsize` that still serves a 64 B echo
and a 16 KiB echo is found by bisection (see benchmarks/README.md, "MicroPython unix
port"). Prints the tables; exits 0 whatever the numbers, 2 if no MicroPython unix port is
found, 1 if a measurement failed.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO, Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPY_DIR = os.path.join(HERE, "mpy")
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402
from micropython_memory import MICRODOT_VERSION, fetch_microdot, unpack_microdot  # noqa: E402

BUILD = os.path.join(os.path.dirname(ROOT), "shared", "micropython", "build-unix.sh")
DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "micropython-1.27.0-unix")
HEAP = "8M"
BASE = "microdot"  # ratios are against this server
ALL_SERVERS = ("ours", "ours-pure", "microdot", "ours@microdot")

# (label, payload bytes, messages in flight)
CASES = [
    ("64 B, 1 in flight", 64, 1),
    ("64 B, 50 in flight", 64, 50),
    ("16 KiB, 1 in flight", 16384, 1),
    ("16 KiB, 10 in flight", 16384, 10),
]
# Minimum ours / microdot message rate (the targets), by payload size.
RATE_TARGETS = {64: 2.0, 16384: 5.0}
# Heap per connection: ours at most Microdot's (ours / microdot <= 1.00).
HEAP_TARGET = 1.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the interpreter ----------------------------------------------------------------------


def find_micropython(given: Optional[str]) -> Optional[Tuple[str, str]]:
    """(interpreter, the MICROPYPATH entry holding MicroPython's asyncio, or ""), or None.

    --micropython, else $MICROPYTHON, else ~/.cache/micropython-1.27.0-unix, else
    `micropython` on PATH, else ../shared/micropython/build-unix.sh (builds it once).
    """
    candidates = [given, os.environ.get("MICROPYTHON")]
    candidates.append(os.path.join(DEFAULT_DIR, "micropython"))
    candidates.append(shutil.which("micropython"))
    found = None
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            found = path
            break
    if found is None and os.path.exists(BUILD):
        log("building MicroPython's unix port with %s ..." % BUILD)
        proc = subprocess.run(["bash", BUILD], capture_output=True, text=True, timeout=900)
        if proc.returncode == 0:
            found = os.path.join(proc.stdout.strip().splitlines()[-1], "micropython")
    if found is None:
        return None
    lib = os.path.join(os.path.dirname(os.path.abspath(found)), "lib")
    return found, lib if os.path.isdir(os.path.join(lib, "asyncio")) else ""


def free_port() -> int:
    # MicroPython's sockets have no getsockname(): pick a free port here, then hand it over.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One MicroPython echo server process; `port` and `ready` (its READY line) once started."""

    def __init__(self, name: str, mp: "Tuple[str, str]", microdot: str, heap: str) -> None:
        self.name = name
        env = dict(os.environ)
        env.pop("WSPROTO_LITE_NO_SPEEDUPS", None)
        if name == "ours-pure":
            env["WSPROTO_LITE_NO_SPEEDUPS"] = "1"
        path = [ROOT, MPY_DIR, os.path.join(ROOT, "tests", "micropython")]  # + sha1_shim
        if name in ("microdot", "ours@microdot"):
            path.insert(0, microdot)
            script = [os.path.join(MPY_DIR, "microdot_echo.py")]
        else:
            script = [os.path.join(MPY_DIR, "ours_echo.py")]
        if mp[1]:
            path.append(mp[1])
        env["MICROPYPATH"] = ":".join(path)
        self.port = free_port()
        args = [str(self.port)]
        if name == "ours@microdot":
            args.append("ours")
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [mp[0], "-X", "heapsize=" + heap, *script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            cwd=ROOT,
        )
        self.ready = self._line(30)
        if not self.ready.startswith("READY "):
            out = self.ready
            self.stop()
            raise RuntimeError("%s did not start (%r): %s" % (name, out, self.errors()))

    def _line(self, timeout: float) -> str:
        # One stdout line, waiting at most `timeout` seconds (the process may be dead).
        assert self.proc.stdout is not None
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return ""
        return self.proc.stdout.readline().decode(errors="replace").strip()

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        line = self._line(30)
        if not line:
            raise RuntimeError("%s gave no answer to %r: %s" % (self.name, command, self.errors()))
        return line

    def heap(self) -> int:
        """gc.mem_alloc() after gc.collect() in the server."""
        words = self.ask("mem").split()
        if words[0] != "MEM":
            raise RuntimeError("%s answered %r to mem" % (self.name, words))
        return int(words[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        # Ours to end: ask it to quit, then terminate or kill by its handle, and reap it.
        try:
            if self.alive() and self.proc.stdin is not None:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
        except OSError:
            pass
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # a dead server's stdin: the buffered "quit" cannot go
                    pass


# -- the client ---------------------------------------------------------------------------


class Client:
    """A blocking WebSocket client: websockets' sans-IO ClientProtocol over a socket.

    Blocking calls and no event loop keep the load generator's cost per message low
    (the asyncio client spent more CPU per round trip than the servers). No compression,
    no keepalive, no size limit. Every socket operation times out after 10 s.
    """

    def __init__(self, port: int, path: str) -> None:
        from websockets.client import ClientProtocol
        from websockets.http11 import Response
        from websockets.protocol import State
        from websockets.uri import parse_uri

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proto = ClientProtocol(parse_uri("ws://127.0.0.1:%d%s" % (port, path)), max_size=None)
        self.proto.send_request(self.proto.connect())
        self.flush()
        self.frames: List[Any] = []
        while self.proto.state is State.CONNECTING:
            self.read()
        events = self.frames
        self.frames = [e for e in events if not isinstance(e, Response)]
        if self.proto.state is not State.OPEN:
            self.sock.close()
            raise RuntimeError("handshake failed: %r" % (self.proto.handshake_exc,))

    def flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def read(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            self.proto.receive_eof()
            raise RuntimeError("the server closed the connection")
        self.proto.receive_data(data)
        self.frames.extend(self.proto.events_received())

    def send(self, payload: bytes) -> None:
        self.proto.send_binary(payload)
        self.flush()

    def recv(self) -> bytes:
        """The next message (every server sends unfragmented frames)."""
        while not self.frames:
            self.read()
        frame = self.frames.pop(0)
        if frame.opcode != 2:  # BINARY
            raise RuntimeError("expected a binary message, got %r" % (frame,))
        data: bytes = frame.data
        return data

    def close(self) -> None:
        from websockets.protocol import State

        try:
            if self.proto.state is State.OPEN:
                self.proto.send_close(1000)
                self.flush()
            self.sock.settimeout(2)
            while self.sock.recv(1 << 16):
                pass
        except OSError:
            pass
        finally:
            self.sock.close()


def echo_rate(
    port: int, size: int, window: int, warmup: float, duration: float
) -> "Dict[str, float]":
    """Round trips per second with `window` binary messages of `size` bytes in flight.

    Each echo received (and compared with what was sent) sends the next message; after
    `warmup` seconds the echoes received in the next `duration` seconds are counted.
    """
    payload = h.binary_payload(size)
    ws = Client(port, "/echo")
    try:
        for _ in range(3):  # checked before timing
            ws.send(payload)
            if ws.recv() != payload:
                raise RuntimeError("the echo differs from the message")
        now = time.perf_counter
        for _ in range(window):
            ws.send(payload)
        t_start = now() + warmup
        t_end = t_start + duration
        counting = False
        count = 0
        cpu0 = t0 = 0.0
        while True:
            if ws.recv() != payload:
                raise RuntimeError("the echo differs from the message")
            t = now()
            if counting:
                count += 1
                if t >= t_end:
                    break
            elif t >= t_start:
                counting = True
                t0 = t
                cpu0 = time.process_time()
            ws.send(payload)
        elapsed = now() - t0
        cpu = time.process_time() - cpu0
        for _ in range(window - 1):  # the echoes still in flight
            ws.recv()
    finally:
        ws.close()
    return {"messages": count, "seconds": elapsed, "rate": count / elapsed, "client_cpu": cpu}


def heap_per_connection(server: Server, count: int) -> "Dict[str, float]":
    """Heap growth / count: connections idle after the handshake, then parked in receive().

    idle: the route accepted and waits on an event (not in receive()); parked: the echo
    route inside receive(); after echo: the same after one 64 B message each way.
    """
    result: Dict[str, float] = {}
    base = server.heap()
    conns: List[Client] = []
    try:
        for _ in range(count):  # one at a time: MicroPython listens with a backlog of 5
            conns.append(Client(server.port, "/idle"))
        time.sleep(0.3)  # every handler reaches its wait
        result["idle"] = (server.heap() - base) / count
        if server.ask("release") != "OK":
            raise RuntimeError("release refused")
    finally:
        for c in conns:
            c.close()
    conns = []
    time.sleep(0.3)
    base = server.heap()
    try:
        for _ in range(count):
            conns.append(Client(server.port, "/echo"))
        time.sleep(0.3)
        result["parked"] = (server.heap() - base) / count
        ping = h.binary_payload(64)
        for c in conns:
            c.send(ping)
        for c in conns:
            if c.recv() != ping:
                raise RuntimeError("the echo differs from the message")
        time.sleep(0.1)
        result["after echo"] = (server.heap() - base) / count
    finally:
        for c in conns:
            c.close()
    return result


def echo_once(port: int, size: int) -> bool:
    payload = h.binary_payload(size)
    try:
        ws = Client(port, "/echo")
    except (OSError, RuntimeError):
        return False
    try:
        ws.send(payload)
        return ws.recv() == payload
    except (OSError, RuntimeError):
        return False
    finally:
        ws.close()


def serves(name: str, mp: "Tuple[str, str]", microdot: str, kib: int, size: int) -> bool:
    """Does a fresh server with `kib` KiB of heap echo one `size`-byte message?"""
    try:
        server = Server(name, mp, microdot, "%dK" % kib)
    except RuntimeError:
        return False  # a MemoryError while importing
    try:
        return echo_once(server.port, size) and server.alive()
    finally:
        server.stop()
        server.stderr.close()


def smallest_heap(
    name: str, mp: "Tuple[str, str]", microdot: str, size: int, step: int, hi: int
) -> "Optional[int]":
    """The smallest heap (KiB, a multiple of `step`) that serves one echo, by bisection."""
    lo = 0  # fails (assumed)
    while not serves(name, mp, microdot, hi, size):
        if hi >= 64 * 1024:
            return None
        lo, hi = hi, hi * 2
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            break
        if serves(name, mp, microdot, mid, size):
            hi = mid
        else:
            lo = mid
    return hi


# -- the run ------------------------------------------------------------------------------


def measure_server(
    name: str, mp: "Tuple[str, str]", microdot: str, args: argparse.Namespace
) -> "Dict[str, Any]":
    server = Server(name, mp, microdot, HEAP)
    try:
        out: Dict[str, Any] = {"ready": server.ready, "rates": {}}
        for label, size, window in CASES:
            run = echo_rate(server.port, size, window, args.warmup, args.duration)
            if not server.alive():
                raise RuntimeError("%s died: %s" % (name, server.errors()))
            out["rates"][label] = run
        out["heap"] = heap_per_connection(server, args.connections)
        return out
    finally:
        server.stop()
        errors = server.errors()
        server.stderr.close()
        if errors.strip():
            log("%s stderr: %s" % (name, errors.strip()[-600:]))


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "%.2fx" % (a / b) if a and b else "n/a"


def report(
    results: "Dict[str, List[Dict[str, Any]]]",
    heaps: "Dict[str, Dict[int, Optional[int]]]",
    names: "List[str]",
) -> None:
    have_base = BASE in names

    def med(name: str, label: str) -> float:
        return h.median([r["rates"][label]["rate"] for r in results[name]])

    def spr(name: str, label: str) -> str:
        return "%.0f%%" % (100 * h.spread([r["rates"][label]["rate"] for r in results[name]]))

    print("Echo round trips per second, median of the rounds (spread: (max - min) / median):")
    print()
    header = ["case"] + ["%s msg/s" % n for n in names]
    others = [n for n in names if n != BASE]
    if have_base:
        header += ["%s/%s" % (n, BASE) for n in others]
        header += ["target (ours)", "met"]
    header += ["%s spread" % n for n in names]
    rows = []
    for label, size, _window in CASES:
        row = [label] + [h.fmt_rate(med(n, label)) for n in names]
        if have_base:
            base = med(BASE, label)
            row += [ratio(med(n, label), base) for n in others]
            target = RATE_TARGETS[size]
            row.append(">= %.0fx" % target)
            if "ours" in names:
                row.append("yes" if med("ours", label) >= target * base else "NO")
            else:
                row.append("n/a")
        row += [spr(n, label) for n in names]
        rows.append(row)
    h.print_table(header, rows)
    print()
    print("Client CPU / wall time over the timed window, median (near 100%: client-bound):")
    print()
    header = ["case"] + ["client CPU, %s" % n for n in names]
    rows = []
    for label, _size, _window in CASES:
        row = [label]
        for n in names:
            runs = [r["rates"][label] for r in results[n]]
            row.append("%.0f%%" % (100 * h.median([x["client_cpu"] / x["seconds"] for x in runs])))
        rows.append(row)
    h.print_table(header, rows)
    print()
    print("Heap per connection (gc.mem_alloc() after gc.collect(), growth / connections), median:")
    print()
    header = ["server", "idle after handshake", "parked in receive()", "after one 64 B echo"]
    if have_base:
        header += ["parked vs %s" % BASE, "target (<= 1.00x)"]
    rows = []
    kinds = ("idle", "parked", "after echo")
    for n in names:
        values = {k: h.median([r["heap"][k] for r in results[n]]) for k in kinds}
        row = [n] + ["%.0f B" % values[k] for k in kinds]
        if have_base:
            base = h.median([r["heap"]["parked"] for r in results[BASE]])
            row.append(ratio(values["parked"], base) if n != BASE else "")
            row.append(("yes" if values["parked"] <= base else "NO") if n != BASE else "")
        rows.append(row)
    h.print_table(header, rows)
    if not heaps:
        return
    print()
    print("Smallest -X heapsize that serves one echo (fresh server each probe, bisection):")
    print()
    header = ["server", "64 B echo", "16 KiB echo", "16 KiB - 64 B"]
    if have_base:
        header.append("difference vs %s" % BASE)
    rows = []

    def extra(n: str) -> Optional[int]:
        small, big = heaps[n].get(64), heaps[n].get(16384)
        return big - small if small is not None and big is not None else None

    for n in names:
        if n not in heaps:
            continue
        small, big = heaps[n].get(64), heaps[n].get(16384)
        row = [n]
        row += ["%d KiB" % v if v is not None else "n/a" for v in (small, big)]
        diff = extra(n)
        row.append("%d KiB" % diff if diff is not None else "n/a")
        if have_base:
            row.append(ratio(diff, extra(BASE)) if n != BASE and BASE in heaps else "")
        rows.append(row)
    h.print_table(header, rows)


def main(argv: "Optional[List[str]]" = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: numbers mean nothing")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 1)")
    parser.add_argument("--servers", help="comma-separated, default %s" % ",".join(ALL_SERVERS))
    parser.add_argument("--duration", type=float, help="seconds timed per case (default 2)")
    parser.add_argument("--warmup", type=float, help="seconds of load before timing (0.5)")
    parser.add_argument("--connections", type=int, help="connections for the heap (50)")
    parser.add_argument("--no-bisect", action="store_true", help="skip the smallest-heap search")
    parser.add_argument("--heap-step", type=int, help="bisection resolution, KiB (default 4)")
    parser.add_argument("--micropython", help="the unix port's micropython executable")
    parser.add_argument(
        "--microdot",
        default="auto",
        help="auto (pip download, the default), none, or a wheel, sdist or directory",
    )
    parser.add_argument("--microdot-version", default=MICRODOT_VERSION)
    parser.add_argument("--json", metavar="FILE", help="also write every measurement here")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    args.duration = args.duration or (0.2 if args.quick else 2.0)
    args.warmup = args.warmup if args.warmup is not None else (0.05 if args.quick else 0.5)
    args.connections = args.connections or (5 if args.quick else 50)
    step = args.heap_step or (64 if args.quick else 4)
    names = [n.strip() for n in (args.servers or ",".join(ALL_SERVERS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_SERVERS]
    if unknown:
        parser.error("unknown servers: %s" % ", ".join(unknown))
    try:
        import websockets  # noqa: F401
    except ImportError:
        log("micropython_unix.py: the client needs websockets (pip install -e '.[test]')")
        return 2

    mp = find_micropython(args.micropython)
    if mp is None:
        log(
            "micropython_unix.py: no MicroPython unix port (--micropython, $MICROPYTHON, "
            "micropython on PATH, or %s)" % BUILD
        )
        return 2
    tmp = tempfile.mkdtemp(prefix="wsproto_lite-mpunix-")
    try:
        microdot = ""
        if any(n in ("microdot", "ours@microdot") for n in names):
            found = None
            if args.microdot == "auto":
                found = fetch_microdot(args.microdot_version, tmp)
            elif args.microdot != "none":
                source = os.path.abspath(args.microdot)
                found = unpack_microdot(source, os.path.join(tmp, "microdot-src"))
            if found is None:
                log("running without microdot and ours@microdot")
                names = [n for n in names if n not in ("microdot", "ours@microdot")]
            else:
                microdot = found
        version = subprocess.run(
            [mp[0], "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        ).stdout.strip()
        print("sys.version %s: %s, -X heapsize=%s" % (version, mp[0], HEAP))
        print(
            "client: CPython %s, websockets %s (sans-IO ClientProtocol, blocking socket), "
            "127.0.0.1; platform %s, %s CPUs, load average %s"
            % (
                platform.python_version(),
                importlib.metadata.version("websockets"),
                platform.platform(),
                os.cpu_count(),
                "%.1f %.1f %.1f" % os.getloadavg(),
            )
        )
        print(
            "%d rounds (servers in rotating order, a fresh process each), %.2f s warm-up + "
            "%.1f s timed per case, %d connections for the heap%s"
            % (
                rounds,
                args.warmup,
                args.duration,
                args.connections,
                ", QUICK (numbers meaningless)" if args.quick else "",
            )
        )
        results: Dict[str, List[Dict[str, Any]]] = {n: [] for n in names}
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                log("round %d/%d: %s ..." % (r + 1, rounds, name))
                results[name].append(measure_server(name, mp, microdot, args))
        print()
        for name in names:
            print("%s: %s" % (name, results[name][0]["ready"]))
        if microdot:
            print(
                "Microdot %s from PyPI, unmodified; this port has no hashlib.sha1, so its "
                "handshake gets a stand-in over wsproto_lite._sha1 (sha1=shim above)"
                % args.microdot_version
            )
        heaps: Dict[str, Dict[int, Optional[int]]] = {}
        if not args.no_bisect:
            for name in names:
                log("smallest heap: %s ..." % name)
                hi = 256 if args.quick else 512
                heaps[name] = {
                    size: smallest_heap(name, mp, microdot, size, step, hi) for size in (64, 16384)
                }
        print("load average at the end %.1f %.1f %.1f" % os.getloadavg())
        print()
        report(results, heaps, names)
        print()
        print(
            "targets (issue): ours >= 2x Microdot at 64 B, >= 5x at 16 KiB; heap per "
            "connection parked in receive() <= Microdot's. ours@microdot is the same-"
            "framework comparison; ours-pure has no target."
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rounds": results, "smallest_heap_kib": heaps}, f, indent=1)
        return 0
    except RuntimeError as exc:
        log("micropython_unix.py: %s" % exc)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
