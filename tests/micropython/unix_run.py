"""Run tests/portable on MicroPython's unix port: what run.mjs does for the WebAssembly build.

    MICROPYPATH=$DIR/lib $DIR/micropython -X heapsize=8M tests/micropython/unix_run.py \\
        [-v] [--timeout SECONDS] [PATTERN]...

Imports each tests/portable/test_*.py (as test_x, with tests/portable on sys.path, like
pytest's default import mode and run.mjs), calls each top-level test_* in definition
order, and runs an `async def` one with asyncio.run() on a fresh event loop, bounded by
--timeout (default 30 s; a test that blocks without awaiting cannot be interrupted).
Each failure prints `FAILED path::test` and its traceback; the last line is
`N passed, N failed`. Exits 1 if a test failed, a module failed to import (one failure),
or no test ran. A PATTERN keeps the modules whose name contains it (MODULE::TEST also
narrows to tests whose name contains TEST); several select their union.

Unlike the WebAssembly build, this port has a fixed heap (-X heapsize) and real sockets.
"""

import asyncio
import gc
import io
import os
import sys

_here = __file__.rpartition("/")[0] or "."
ROOT = _here + "/../.."
TEST_DIR = "tests/portable"
sys.path.append(ROOT)
sys.path.insert(0, ROOT + "/" + TEST_DIR)


def traceback(exc):
    out = io.StringIO()
    sys.print_exception(exc, out)
    return "\n".join("    " + line for line in out.getvalue().rstrip().split("\n"))


def test_names(mod, path):
    """The test_* callables of `mod`: those `def`ined in `path` in source order, then the
    rest (assigned, imported) by name, as run.mjs orders them."""
    names = []
    with open(path) as source:
        for line in source:
            if line.startswith("async def "):
                line = line[6:]
            if line.startswith("def test_"):
                name = line[4:].split("(")[0].strip()
                if name not in names:
                    names.append(name)
    found = [n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
    return [n for n in names if n in found] + sorted(n for n in found if n not in names)


def chosen(patterns, module, test=None):
    if not patterns:
        return True
    for pattern in patterns:
        mod, _, name = pattern.partition("::")
        if mod in module and (test is None or not name or name in test):
            return True
    return False


def run_test(fn, timeout):
    """Call one test; return None or the traceback of what it raised."""
    try:
        result = fn()
        if result is not None and hasattr(result, "send"):  # a coroutine
            asyncio.new_event_loop()  # drop whatever an earlier test left scheduled
            asyncio.run(asyncio.wait_for(result, timeout))
    except BaseException as exc:  # CancelledError and KeyboardInterrupt are failures too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return traceback(exc)
    finally:
        gc.collect()
    return None


def main(argv):
    verbose = False
    timeout = 30
    patterns = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-v":
            verbose = True
        elif arg == "--timeout":
            timeout = float(args.pop(0))
        else:
            patterns.append(arg)
    folder = ROOT + "/" + TEST_DIR
    modules = sorted(
        n[:-3] for n in os.listdir(folder) if n.startswith("test_") and n[-3:] == ".py"
    )
    passed = failed = 0
    for module in modules:
        if not chosen(patterns, module):
            continue
        path = TEST_DIR + "/" + module + ".py"
        try:
            mod = __import__(module)
        except BaseException as exc:  # SyntaxError, ImportError, anything at import time
            failed += 1
            print("FAILED %s (import)\n%s" % (path, traceback(exc)))
            continue
        for name in test_names(mod, folder + "/" + module + ".py"):
            if not chosen(patterns, module, name):
                continue
            problem = run_test(getattr(mod, name), timeout)
            if problem is None:
                passed += 1
                if verbose:
                    print("PASSED %s::%s" % (path, name))
            else:
                failed += 1
                print("FAILED %s::%s\n%s" % (path, name, problem))
    if passed + failed == 0:
        print("no tests matched %s" % " ".join(patterns) if patterns else "no tests found")
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
