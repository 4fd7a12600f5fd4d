"""Start and stop echo_server.py processes; shared by echo.py and memory.py."""

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from typing import IO, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_SCRIPT = os.path.join(HERE, "echo_server.py")
LOADGEN_SCRIPT = os.path.join(HERE, "loadgen.py")

ALL_SERVERS = ("ours", "websockets", "aiohttp", "picows")
PEERS = {"websockets": "websockets", "aiohttp": "aiohttp", "picows": "picows"}


class ServerProcess:
    """One echo_server.py subprocess; `port` (WebSocket) and `ctl` (control) once started."""

    def __init__(self, name: str, tracemalloc: bool = False) -> None:
        self.name = name
        # Kept open for the life of the process (errors() reads it); stop() closes it.
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        command = [sys.executable, SERVER_SCRIPT, name, "--stdin"]
        if tracemalloc:
            command.append("--tracemalloc")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("%s server did not start: %s" % (name, self.errors()))
        self.port, self.ctl = (int(x) for x in line.split()[1:3])

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        # The process is ours: terminate it by its own handle, then make sure it is gone.
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.close()


def start_servers(names: "List[str]", tracemalloc: bool = False) -> "dict[str, ServerProcess]":
    started: dict[str, ServerProcess] = {}
    try:
        for name in names:
            started[name] = ServerProcess(name, tracemalloc)
    except BaseException:
        stop_servers(started)
        raise
    return started


def stop_servers(servers: "dict[str, ServerProcess]") -> None:
    for server in servers.values():
        server.stop()


def missing_peers(names: "List[str]") -> "List[str]":
    """The peers among `names` that are not installed (pip install -e '.[bench]')."""
    missing = []
    for name in names:
        module = PEERS.get(name)
        if module is None:
            continue
        try:
            __import__(module)
        except ImportError:
            missing.append(name)
    return missing


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_peers() -> str:
    aiofastnet = version("aiofastnet")
    return "websockets %s, aiohttp %s, picows %s (aiofastnet %s)" % (
        version("websockets"),
        version("aiohttp"),
        version("picows"),
        aiofastnet if aiofastnet == "not installed" else aiofastnet + ": picows uses it",
    )


def load_average() -> str:
    try:
        return "%.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return "?"


def parse_servers(text: "Optional[str]") -> "List[str]":
    names = [s.strip() for s in (text or ",".join(ALL_SERVERS)).split(",") if s.strip()]
    for name in names:
        if name not in ALL_SERVERS:
            raise SystemExit("unknown server %r (choose from %s)" % (name, ", ".join(ALL_SERVERS)))
    return names
