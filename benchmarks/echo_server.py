"""One echo server in its own process, for benchmarks/echo.py and benchmarks/memory.py.

    python benchmarks/echo_server.py {ours,websockets,aiohttp,picows} [--tracemalloc] [--stdin]

Listens on 127.0.0.1 (a free port) with the library's own server API and its defaults,
echoing every message, and prints one line `READY <websocket port> <control port>`.
The control port takes one command per line and answers one JSON line:

    stats            {"cpu": process CPU seconds, "rss": bytes, "traced": bytes or null,
                      "conns": connections whose handler is running}
    gc               gc.collect(), then the same as stats
    mark             gc.collect() and keep a tracemalloc snapshot (answers {})
    top N            gc.collect() and the N source lines whose traced memory grew most
                     since `mark`: [[file:line, bytes, blocks, source text], ...]
    profile on       start cProfile, timed by process CPU time (answers {})
    profile off PATH stop it and dump the stats to PATH (answers {})
    quit             stop the process

Everything runs on the standard asyncio event loop (no uvloop). picows uses aiofastnet,
its compiled transport, whenever that package is installed (it is a dependency of picows).
"""

import argparse
import asyncio
import gc
import json
import linecache
import logging
import os
import resource
import sys
import time
import tracemalloc
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository's wsproto_lite and transports

SERVERS = ("ours", "websockets", "aiohttp", "picows")

# Connections whose echo handler is running (for memory.py: wait until all are open).
conns = 0


def rss_bytes() -> int:
    """Resident set size now (Linux /proc); peak RSS from getrusage elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def stats() -> "dict[str, Any]":
    return {
        "cpu": time.process_time(),
        "rss": rss_bytes(),
        "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None,
        "conns": conns,
    }


# -- the four servers: each returns its WebSocket port --------------------------------------


async def start_ours() -> int:
    from transports.asyncio import serve

    async def handler(request: Any, ws: Any) -> None:
        global conns
        conns += 1
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            conns -= 1

    server = await serve(handler, "127.0.0.1", 0)
    return server.port


async def start_websockets() -> int:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        global conns
        conns += 1
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            conns -= 1

    server = await serve(handler, "127.0.0.1", 0)
    return int(server.sockets[0].getsockname()[1])


async def start_aiohttp() -> int:
    from aiohttp import WSMsgType, web

    async def handler(request: Any) -> Any:
        global conns
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conns += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
        finally:
            conns -= 1
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return int(runner.addresses[0][1])


async def start_picows() -> int:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    # picows warns on stderr each time the transport's write buffer crosses its marks
    # (100 messages of 64 KiB in flight do); that logging is not what is measured.
    logging.getLogger("picows").setLevel(logging.ERROR)

    data_types = (WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CONTINUATION)

    class Echo(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            global conns
            conns += 1

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind in data_types:
                # Frame by frame: a fragmented message comes back fragmented alike.
                transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            global conns
            conns -= 1

    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
    return int(server.sockets[0].getsockname()[1])


STARTERS = {
    "ours": start_ours,
    "websockets": start_websockets,
    "aiohttp": start_aiohttp,
    "picows": start_picows,
}


# -- control channel -------------------------------------------------------------------------


class _StdinWatch(asyncio.Protocol):
    # --stdin: the parent holds our stdin open; when it ends (the parent exited or was
    # killed), so do we, instead of lingering as an orphan.
    def __init__(self, done: "asyncio.Future[None]") -> None:
        self.done = done

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def main(name: str, watch_stdin: bool) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    if watch_stdin:
        await loop.connect_read_pipe(lambda: _StdinWatch(done), sys.stdin)
    profiler: Optional[Any] = None
    marked: Any = None

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal profiler, marked
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                break
            answer: Any = {}
            if line == "stats":
                answer = stats()
            elif line == "gc":
                gc.collect()
                answer = stats()
            elif line == "mark":
                gc.collect()
                marked = tracemalloc.take_snapshot()
            elif line.startswith("top "):
                gc.collect()
                diff = tracemalloc.take_snapshot().compare_to(marked, "lineno")
                answer = []
                for d in diff[: int(line.split()[1])]:
                    frame = d.traceback[0]
                    code = linecache.getline(frame.filename, frame.lineno).strip()[:70]
                    answer.append([str(frame), d.size_diff, d.count_diff, code])
            elif line == "profile on":
                import cProfile

                # CPU time, not wall time: on a busy machine wall time would charge the
                # moments the process waits for a core to whatever it was running.
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
            elif line.startswith("profile off "):
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(line[len("profile off ") :])
                    profiler = None
            elif line == "quit":
                if not done.done():
                    done.set_result(None)
            else:
                answer = {"error": "unknown command %r" % line}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        writer.close()

    port = await STARTERS[name]()
    ctl = await asyncio.start_server(control, "127.0.0.1", 0)
    ctl_port = ctl.sockets[0].getsockname()[1]
    print("READY %d %d" % (port, ctl_port), flush=True)
    await done


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace Python allocations (memory.py)"
    )
    parser.add_argument(
        "--stdin", action="store_true", help="exit when stdin ends (the parent is gone)"
    )
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    raise_nofile()
    try:
        asyncio.run(main(args.server, args.stdin))
    except KeyboardInterrupt:
        pass
