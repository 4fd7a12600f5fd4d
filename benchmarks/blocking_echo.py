"""Echo rate of the blocking transport beside websockets' sync implementation, over loopback.

    python benchmarks/blocking_echo.py [--quick] [--rounds N] [--duration SECONDS]
                                       [--warmup SECONDS] [--only TEXT]

Each library's server runs in a process of its own (this script with --serve NAME, started
and stopped here); the clients run in this process, one thread per connection, each doing
sequential round trips (send, then wait for the echo, which is checked). Four pairings, client
-> server: ours -> ours and websockets -> websockets (each library talking to itself), and
ours -> websockets and websockets -> ours (the same load against the other server). Each round
measures every pairing once, starting with a different one each round; reported are medians
of the rounds and their ratios. See benchmarks/README.md, "Blocking transport echo".
"""

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402

LIBRARIES = ("ours", "websockets")
# (client, server)
PAIRINGS: List[Tuple[str, str]] = [
    ("ours", "ours"),
    ("websockets", "websockets"),
    ("ours", "websockets"),
    ("websockets", "ours"),
]
# (label, payload bytes, client threads = connections)
CASES = [
    ("64 B, 1 thread", 64, 1),
    ("64 B, 8 threads", 64, 8),
    ("64 KiB, 1 thread", 1 << 16, 1),
    ("64 KiB, 8 threads", 1 << 16, 8),
]
LIMIT = 1 << 20  # both libraries' default message limit; every payload here is below it


def pairing_name(pairing: Tuple[str, str]) -> str:
    return "%s->%s" % pairing


# -- the server process --------------------------------------------------------------------


def serve_until_stdin_closes(library: str) -> None:
    """Run an echo server on a free loopback port; print "READY port"; stop at stdin EOF."""
    if library == "ours":
        from transports.blocking import Request, WebSocket, serve

        def echo(request: Request, ws: WebSocket) -> None:
            for message in ws:
                ws.send(message)

        server: Any = serve(echo, "127.0.0.1", 0, max_message_length=LIMIT)
        port = server.port
    else:
        from websockets.sync.server import ServerConnection
        from websockets.sync.server import serve as ws_serve

        def their_echo(ws: ServerConnection) -> None:
            for message in ws:
                ws.send(message)

        # No compression and no pings: ours has neither, so each does the same work.
        server = ws_serve(
            their_echo,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=None,
            max_size=LIMIT,
        )
        port = server.socket.getsockname()[1]

    def stop_at_eof() -> None:
        sys.stdin.read()
        server.shutdown()

    watcher = threading.Thread(target=stop_at_eof, name="stdin watcher")
    watcher.start()
    print("READY %d" % port, flush=True)
    server.serve_forever()
    watcher.join()


class ServerProcess:
    """This script with --serve LIBRARY as a subprocess; `port` once it is listening."""

    def __init__(self, library: str) -> None:
        self.library = library
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", library],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("the %s server did not start (see stderr above)" % library)
        self.port = int(line.split()[1])

    def stop(self) -> None:
        # Closing stdin asks the server to shut down; the process is ours to end by handle.
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@contextlib.contextmanager
def servers() -> Iterator[Dict[str, ServerProcess]]:
    started: Dict[str, ServerProcess] = {}
    try:
        for library in LIBRARIES:
            started[library] = ServerProcess(library)
        yield started
    finally:
        for server in started.values():
            server.stop()


# -- the clients ---------------------------------------------------------------------------

RoundTrip = Callable[[bytes], None]


@contextlib.contextmanager
def open_client(library: str, port: int) -> Iterator[RoundTrip]:
    """A connection of `library`'s sync client; yields round_trip(payload), which checks."""
    url = "ws://127.0.0.1:%d/" % port
    if library == "ours":
        from transports.blocking import connect

        with connect(url, max_message_length=LIMIT) as ws:

            def round_trip(payload: bytes) -> None:
                ws.send(payload)
                if ws.receive() != payload:
                    raise AssertionError("the echo differs from what was sent")

            yield round_trip
    else:
        from websockets.sync.client import connect as ws_connect

        with ws_connect(
            url, proxy=None, compression=None, ping_interval=None, max_size=LIMIT
        ) as their:

            def round_trip(payload: bytes) -> None:
                their.send(payload)
                if their.recv() != payload:
                    raise AssertionError("the echo differs from what was sent")

            yield round_trip


def measure(
    client: str, port: int, size: int, threads: int, warmup: float, duration: float
) -> float:
    """Round trips per second over `duration`, summed over `threads` connections.

    Every thread connects first; then all run round trips for warmup + duration seconds
    and count those that end inside the timed window.
    """
    payload = h.binary_payload(size)
    connected = threading.Barrier(threads + 1, timeout=30)
    go = threading.Barrier(threads + 1, timeout=30)
    window: List[float] = []
    counts = [0] * threads
    errors: List[BaseException] = []

    def run(i: int) -> None:
        try:
            with open_client(client, port) as round_trip:
                connected.wait()
                go.wait()
                start, end = window
                clock = time.perf_counter
                n = 0
                while True:
                    round_trip(payload)
                    now = clock()
                    if now >= end:
                        break
                    if now >= start:
                        n += 1
                counts[i] = n
        except BaseException as exc:
            errors.append(exc)
            connected.abort()
            go.abort()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        connected.wait()
        now = time.perf_counter()
        window.extend([now + warmup, now + warmup + duration])
        go.wait()
    except threading.BrokenBarrierError:
        pass
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError("%s client failed: %r" % (client, errors[0])) from errors[0]
    return sum(counts) / duration


# -- report --------------------------------------------------------------------------------


def report(results: "Dict[str, Dict[str, List[float]]]") -> None:
    names = [pairing_name(p) for p in PAIRINGS]
    print("Round trips per second (median of rounds), client->server:")
    print()
    header = ["case"] + ["%s msg/s" % n for n in names] + ["ours->ours spread"]
    rows = []
    for label, per in results.items():
        row = [label] + [h.fmt_rate(h.median(per[n])) for n in names]
        row.append("%.0f%%" % (100 * h.spread(per["ours->ours"])))
        rows.append(row)
    h.print_table(header, rows)
    print()

    print("Ratios of the medians (above 1.00x: ours is faster):")
    print()
    ratios = [
        ("both ends", "ours->ours", "websockets->websockets"),
        ("server, our client", "ours->ours", "ours->websockets"),
        ("server, their client", "websockets->ours", "websockets->websockets"),
        ("client, our server", "ours->ours", "websockets->ours"),
        ("client, their server", "ours->websockets", "websockets->websockets"),
    ]
    header = ["case"] + [name for name, _, _ in ratios]
    rows = []
    for label, per in results.items():
        row = [label]
        for _, ours, theirs in ratios:
            row.append("%.2fx" % (h.median(per[ours]) / h.median(per[theirs])))
        rows.append(row)
    h.print_table(header, rows)
    print()
    print("both ends: ours->ours / websockets->websockets. server: the same client against")
    print("our server / against theirs. client: our client / theirs against the same server.")
    print("N threads: N connections, one client thread each, sequential round trips.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: numbers mean nothing")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 1)")
    parser.add_argument("--duration", type=float, help="seconds timed per measurement (1.5)")
    parser.add_argument("--warmup", type=float, help="seconds of load before timing (0.3)")
    parser.add_argument("--only", default="", help="run only the cases whose label contains TEXT")
    parser.add_argument("--serve", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_until_stdin_closes(args.serve)
        return 0
    rounds = args.rounds or (1 if args.quick else 5)
    duration = args.duration or (0.1 if args.quick else 1.5)
    warmup = args.warmup if args.warmup is not None else (0.02 if args.quick else 0.3)
    cases = [c for c in CASES if args.only in c[0]]

    import websockets

    import transports.blocking

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print("Python %s (%s)" % (platform.python_version(), platform.python_implementation()))
    print("platform %s, %s CPUs, load average %s" % (platform.platform(), os.cpu_count(), load))
    print(
        "transports.blocking from %s; websockets %s (sync API, no compression)"
        % (os.path.dirname(os.path.abspath(transports.blocking.__file__)), websockets.__version__)
    )
    print("each server in its own process, thread per connection; clients in this process")
    print(
        "%d rounds, %.2f s warm-up + %.2f s timed per measurement, median of rounds%s"
        % (rounds, warmup, duration, ", QUICK (numbers meaningless)" if args.quick else "")
    )
    print()

    results: Dict[str, Dict[str, List[float]]] = {}
    with servers() as started:
        for label, size, threads in cases:
            print("running %s ..." % label, file=sys.stderr, flush=True)
            per: Dict[str, List[float]] = {pairing_name(p): [] for p in PAIRINGS}
            for r in range(rounds):
                k = r % len(PAIRINGS)
                for client, server in PAIRINGS[k:] + PAIRINGS[:k]:
                    rate = measure(client, started[server].port, size, threads, warmup, duration)
                    per[pairing_name((client, server))].append(rate)
            results[label] = per
    if hasattr(os, "getloadavg"):
        print("load average at the end %s" % (os.getloadavg(),))
        print()
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
