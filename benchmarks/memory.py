"""Server memory per idle WebSocket connection: ours against websockets, aiohttp and picows.

    python benchmarks/memory.py [--connections 1000] [--rounds N] [--servers ...] [--quick]
                                [--compression deflate] [--text-size BYTES]

For each server (echo_server.py, in its own process) this opens `--connections` WebSocket
connections from this process and leaves them idle, then reads the server process's
memory growth over a baseline taken after a warm-up: Python allocations traced by
tracemalloc (a server started with tracing on) and, from a second server started without
tracing, the resident set size. Both are divided by the number of connections. A second
reading follows after one 64-byte message was echoed on every connection (buffers that
are allocated on first use show there). See benchmarks/README.md, "How memory.py measures".

`--compression deflate` has every connection offer permessage-deflate (and fails unless
the server agrees), so "idle" is a connection with deflate negotiated, and the message
echoed is 1 KiB of JSON-like text, compressed both ways (zlib state that is made at the
first message shows in the second reading). `--text-size N` echoes N bytes of that text
instead of 64 B binary; `--text-size 1024` without compression is the reference.
"""

import argparse
import asyncio
import os
import platform
import sys
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402
import _servers as s  # noqa: E402
import loadgen  # noqa: E402

TARGET = 4096  # bytes per idle connection, ours (tracemalloc figure)
WARMUP_CONNECTIONS = 20


async def wait_conns(ctl: loadgen.Control, count: int, timeout: float = 60.0) -> None:
    """Until the server says `count` handlers are running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await ctl.ask("stats"))["conns"] != count:
        if loop.time() > deadline:
            raise TimeoutError("the server never reached %d connections" % count)
        await asyncio.sleep(0.05)


async def close_all(clients: "List[loadgen.Client]") -> None:
    await asyncio.gather(*(c.close(timeout=10) for c in clients))


async def measure_one(
    server: s.ServerProcess, connections: int, key: str, top: int, message: "Dict[str, Any]"
) -> "Dict[str, Any]":
    """Bytes per connection (field `key` of the server's stats): idle, and after one echo.

    With `top`, also the source lines that allocated most for the idle connections.
    `message`: loadgen.Load's arguments (size, text, deflate) for the echoed message.
    """
    load = loadgen.Load(message["size"], 1, message["text"], message["deflate"])
    ctl = await loadgen.Control.open(server.ctl)
    try:
        # Warm-up: first connections fill caches and import lazily loaded modules.
        warm = await loadgen.open_clients(load, "127.0.0.1", server.port, WARMUP_CONNECTIONS, 1)
        await close_all(warm)
        del warm
        await wait_conns(ctl, 0)
        base = (await ctl.ask("gc"))[key]
        if top:
            await ctl.ask("mark")

        clients = await loadgen.open_clients(load, "127.0.0.1", server.port, connections, 0)
        await wait_conns(ctl, connections)
        idle = (await ctl.ask("gc"))[key]
        sites = (await ctl.ask("top %d" % top)) if top else []

        for client in clients:
            client.send(1)  # one message each; the load is not sending more
        await asyncio.wait_for(asyncio.gather(*(c.wait_idle() for c in clients)), 60)
        echoed = (await ctl.ask("gc"))[key]

        await close_all(clients)
        await wait_conns(ctl, 0)
    finally:
        await ctl.close()
    return {
        "idle": (idle - base) / connections,
        "echoed": (echoed - base) / connections,
        "sites": sites,
        "extensions": load.extensions,
    }


def run_server(
    name: str, connections: int, tracemalloc: bool, top: int, message: "Dict[str, Any]"
) -> "Dict[str, Any]":
    server = s.ServerProcess(name, tracemalloc=tracemalloc)
    try:
        key = "traced" if tracemalloc else "rss"
        return asyncio.run(
            measure_one(server, connections, key, top if tracemalloc else 0, message)
        )
    finally:
        server.stop()


def short(where: str) -> str:
    """file:line relative to the repository, or to the standard library / site-packages."""
    root = os.path.dirname(HERE) + os.sep
    if where.startswith(root):
        return where[len(root) :]
    for marker in ("site-packages" + os.sep, "lib" + os.sep + "python"):
        at = where.rfind(marker)
        if at >= 0:
            rest = where[at + len(marker) :]
            return rest if marker.startswith("site") else rest.split(os.sep, 1)[-1]
    return where


def kib(nbytes: float) -> str:
    return "%.2f" % (nbytes / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, help="idle connections per server (1000)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and take medians")
    parser.add_argument("--servers", help="comma-separated, default ours,websockets,aiohttp,picows")
    parser.add_argument("--quick", action="store_true", help="100 connections: a smoke run")
    parser.add_argument(
        "--top", type=int, default=0, help="also list the N source lines that allocate most"
    )
    parser.add_argument(
        "--compression",
        choices=("none", "deflate"),
        default="none",
        help="deflate: negotiate permessage-deflate on every connection (1 KiB text echoed)",
    )
    parser.add_argument(
        "--text-size", type=int, help="echo this many bytes of JSON-like text, not 64 B binary"
    )
    args = parser.parse_args()
    connections = args.connections or (100 if args.quick else 1000)
    loadgen.raise_nofile()
    deflate = args.compression == "deflate"
    size = args.text_size or (1024 if deflate else 64)
    message = {"size": size, "text": deflate or args.text_size is not None, "deflate": deflate}
    if deflate and not args.servers:
        args.servers = "ours,websockets,aiohttp"  # picows does not do permessage-deflate
    names = s.parse_servers(args.servers)
    missing = s.missing_peers(names)
    if missing:
        print(
            "not installed: %s (pip install -e '.[bench]'); running without them"
            % ", ".join(missing),
            file=sys.stderr,
        )
        names = [n for n in names if n not in missing]

    print("Python %s (%s)" % (platform.python_version(), platform.python_implementation()))
    print("platform %s, %s CPUs" % (platform.platform(), os.cpu_count()))
    print(s.describe_peers())
    print(
        "%d connections per server, %d round(s), baseline after %d warm-up connections%s"
        % (connections, args.rounds, WARMUP_CONNECTIONS, ", QUICK" if args.quick else "")
    )
    print(
        "compression: %s; the echoed message: %d B of %s"
        % (
            "permessage-deflate offered as %r, required" % loadgen.DEFLATE_OFFER
            if deflate
            else "none offered",
            size,
            "JSON-like text" if message["text"] else "binary",
        )
    )
    print()

    runs: Dict[str, Dict[str, List[float]]] = {
        n: {"traced idle": [], "traced echoed": [], "rss idle": [], "rss echoed": []} for n in names
    }
    sites: Dict[str, List[Any]] = {}
    agreed: Dict[str, str] = {}
    for r in range(args.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            print("measuring %s ..." % name, file=sys.stderr, flush=True)
            for tracing, prefix in ((True, "traced"), (False, "rss")):
                got = run_server(name, connections, tracing, args.top, message)
                agreed[name] = got["extensions"]
                if got["sites"]:
                    sites[name] = got["sites"]
                runs[name][prefix + " idle"].append(got["idle"])
                runs[name][prefix + " echoed"].append(got["echoed"])

    def med(name: str, key: str) -> float:
        return h.median(runs[name][key])

    print("Server memory per connection, KiB (growth over the baseline / connections):")
    print()
    header = [
        "server",
        "traced idle",
        "RSS idle",
        "traced after 1 echo",
        "RSS after 1 echo",
        "traced idle vs websockets",
        "target",
    ]
    rows = []
    for name in names:
        ratio: Optional[float] = None
        if "websockets" in names:
            ratio = med(name, "traced idle") / med("websockets", "traced idle")
        verdict = ""
        if name == "ours":
            verdict = (
                "PASS" if med(name, "traced idle") <= TARGET else "MISS >%d KiB" % (TARGET // 1024)
            )
        rows.append(
            [
                name,
                kib(med(name, "traced idle")),
                kib(med(name, "rss idle")),
                kib(med(name, "traced echoed")),
                kib(med(name, "rss echoed")),
                "" if ratio is None else "%.2fx" % ratio,
                verdict,
            ]
        )
    h.print_table(header, rows)
    print()
    if deflate:
        for name in names:
            print("%s agreed: %s" % (name, agreed[name]))
        print()
    print("traced: Python allocations (tracemalloc, inside the server process); what a C")
    print("extension allocates with malloc directly is not traced. RSS: resident set size,")
    print("from a second server process started without tracemalloc; kernel socket buffers")
    print("are in neither. idle: after the opening handshake, nothing sent.")
    print(
        "after 1 echo: one %d B %s message sent and echoed on every connection%s."
        % (
            size,
            "text" if message["text"] else "binary",
            ", compressed both ways" if deflate else "",
        )
    )
    print("target: ours <= %d KiB per idle connection (traced)." % (TARGET // 1024))
    for name, lines in sites.items():
        print()
        print("%s: where the idle connections' traced memory was allocated (last round):" % name)
        print()
        h.print_table(
            ["where", "bytes/conn", "blocks/conn", "code"],
            [
                [short(where), "%.0f" % (size / connections), "%.2f" % (count / connections), code]
                for where, size, count, code in lines
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
