"""Find MicroPython's unix port and run scripts on it as servers, for tests and scripts/test.sh.

    from .mpy_unix import find_micropython, require_micropython, serve

    found = find_micropython()        # Found(path, lib, reason); path None if missing
    mp = require_micropython()        # (path, lib), or pytest.skip / pytest.fail under CI=true
    with serve(mp, "tests/micropython/unix_echo.py", "0", heap="2M") as (proc, port):
        ...                           # ws://127.0.0.1:port; the server is killed afterwards

    python tests/mpy_unix.py          # prints the interpreter, then MICROPYPATH; or exits 1
                                      # with the reason on stderr (scripts/test.sh uses it)

Where the interpreter comes from, first found wins:
1. $MICROPYTHON, an interpreter's path;
2. ../shared/micropython/build-unix.sh when ../shared exists beside the checkout (it builds
   the port once, about 20 s, then reuses it; its last stdout line is the folder DIR);
3. `micropython` on PATH.

`lib` is the folder holding MicroPython's asyncio package (DIR/lib of build-unix.sh, or a
`lib/` beside any interpreter), None when there is none (a port that freezes asyncio in).
Scripts run with MICROPYPATH = repository root, lib, .frozen (MICROPYPATH replaces the
port's default path, so .frozen keeps frozen modules importable) and cwd = the root.
"""

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import IO, Dict, Iterator, List, NamedTuple, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
BUILD = os.path.join(SHARED, "micropython", "build-unix.sh")
BUILD_TIMEOUT = 600.0  # seconds: a first build takes about 20 s on two cores
START_TIMEOUT = 30.0  # seconds for a server to print its port: a guard, never a pace
STOP_TIMEOUT = 10.0

#: (interpreter path, asyncio lib folder or None), as serve() and command() take it.
MicroPython = Tuple[str, Optional[str]]


class Found(NamedTuple):
    """What find_micropython() found: `path` is None when nothing was, and `reason` says
    what is missing; otherwise `reason` says where the interpreter came from."""

    path: Optional[str]
    lib: Optional[str]
    reason: str


def _lib_beside(interpreter: str) -> Optional[str]:
    lib = os.path.join(os.path.dirname(os.path.abspath(interpreter)), "lib")
    return lib if os.path.isdir(os.path.join(lib, "asyncio")) else None


def _build() -> Tuple[Optional[str], str]:
    # build-unix.sh's folder, or None and why not.
    try:
        done = subprocess.run(
            ["bash", BUILD], capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return None, "%s took over %d s" % (BUILD, BUILD_TIMEOUT)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, "%s failed with exit %d (needs gcc and make): %s" % (
            BUILD,
            done.returncode,
            done.stderr.strip()[-1000:],
        )
    return lines[-1], "built by %s" % BUILD


def find_micropython() -> Found:
    """Look for the unix port in the order of the module docstring; never raises."""
    given = os.environ.get("MICROPYTHON")
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return Found(given, _lib_beside(given), "$MICROPYTHON")
        return Found(None, None, "MICROPYTHON=%s is not an executable file" % given)
    tried = ["$MICROPYTHON is not set"]
    if os.path.isdir(SHARED):
        folder, why = _build()
        path = folder and os.path.join(folder, "micropython")
        if path and os.access(path, os.X_OK):
            return Found(path, _lib_beside(path), why)
        tried.append(why if folder is None else "%s gave no %s" % (BUILD, path))
    else:
        tried.append("no %s beside the checkout to build the port" % SHARED)
    on_path = shutil.which("micropython")
    if on_path:
        return Found(on_path, _lib_beside(on_path), "micropython on PATH")
    tried.append("no micropython on PATH")
    return Found(None, None, "no MicroPython unix port: " + "; ".join(tried))


def require_micropython() -> MicroPython:
    """For pytest: the interpreter, or skip naming what is missing (fail under CI=true)."""
    import pytest

    found = find_micropython()
    if found.path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and %s (scripts/test.sh stage micropython-unix)" % found.reason)
        pytest.skip(found.reason)
    return found.path, found.lib


def environ(micropython: MicroPython) -> Dict[str, str]:
    """os.environ with MICROPYPATH set for `micropython` (the module docstring says how)."""
    folders = [ROOT] + ([micropython[1]] if micropython[1] else []) + [".frozen"]
    return dict(os.environ, MICROPYPATH=":".join(folders))


def command(micropython: MicroPython, script: str, *args: str, heap: str = "2M") -> List[str]:
    """The argv that runs `script` (relative to the repository root) with a `heap` GC heap."""
    return [micropython[0], "-X", "heapsize=%s" % heap, script, *args]


def _read_line(out: IO[bytes], deadline: float) -> bytes:
    # One line of the child's stdout, or b"" at EOF or past the deadline (no sleeping).
    line = b""
    fd = out.fileno()
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return b""
        byte = os.read(fd, 1)  # byte by byte: nothing past the line is taken from the pipe
        if not byte:
            return b""
        line += byte
    return line


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(STOP_TIMEOUT)


@contextmanager
def serve(
    micropython: MicroPython,
    script: str,
    *args: str,
    heap: str = "2M",
    start_timeout: float = START_TIMEOUT,
    allow_tracebacks: bool = False,
) -> "Iterator[Tuple[subprocess.Popen[bytes], int]]":
    """Run `script` on MicroPython as a server; yield (process, port) once it has printed
    `listening on PORT` (within `start_timeout` seconds, else AssertionError).

    The server is killed and reaped on the way out, whatever happens. Its stderr goes to a
    temporary file: it is part of the error when the server fails to start or exits on its
    own, and is printed (pytest shows it) when the block raises. A traceback in it fails the
    block too, unless `allow_tracebacks`: an exception left in a MicroPython task is a bug.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            command(micropython, script, *args, heap=heap),
            cwd=ROOT,
            env=environ(micropython),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )

        def stderr() -> str:
            err.seek(0)
            return err.read().decode(errors="replace")[-3000:]

        try:
            assert proc.stdout is not None
            line = _read_line(proc.stdout, time.monotonic() + start_timeout)
            words = line.split()
            if words[:2] != [b"listening", b"on"] or len(words) != 3 or not words[2].isdigit():
                _stop(proc)
                raise AssertionError(
                    "%s printed %r, not `listening on PORT`, within %.0f s (exit %s); "
                    "stderr: %s" % (script, line, start_timeout, proc.returncode, stderr())
                )
            try:
                yield proc, int(words[2])
            except BaseException:
                _stop(proc)
                sys.stderr.write("%s's stderr:\n%s\n" % (script, stderr()))
                raise
            exited = proc.poll()
            _stop(proc)
            assert exited is None, "%s exited with %d on its own; stderr: %s" % (
                script,
                exited,
                stderr(),
            )
            assert allow_tracebacks or "Traceback" not in stderr(), "%s printed a traceback: %s" % (
                script,
                stderr(),
            )
        finally:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def main() -> int:
    """CLI for scripts/test.sh: print the interpreter and MICROPYPATH, or why there is none."""
    found = find_micropython()
    if found.path is None:
        print(found.reason, file=sys.stderr)
        return 1
    print(found.path)
    print(environ((found.path, found.lib))["MICROPYPATH"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
