#!/usr/bin/env node
// Run tests/portable on the MicroPython WebAssembly build (npm:
// @micropython/micropython-webassembly-pyscript) under Node.js.
//
// Copies wsproto_lite/, transports/ and tests/portable/ into MicroPython's
// in-memory filesystem, imports each tests/portable/test_*.py and calls every
// top-level callable named test_*; a test that returns a coroutine (or any
// generator) is awaited. Ends with "N passed, N failed" alone on a line and
// exits 1 if anything failed, nothing ran, or a module failed to import.
//
// Usage: node tests/micropython/run.mjs [--root DIR] [--heap BYTES]
//            [--timeout SECONDS] [-v] [-k PATTERN]... [PATTERN]...

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript";
const PACKAGES = ["wsproto_lite", "transports"]; // copied: .py files only
const TEST_DIR = "tests/portable"; // copied: every file
const VFS_ROOT = "/repo"; // MicroPython's cwd, so tracebacks show repo-relative paths
const HARNESS = "_wsl_mp_harness";

const USAGE = `usage: node run.mjs [options] [PATTERN]...

Runs every test_* callable of ${TEST_DIR}/test_*.py on MicroPython (WebAssembly).

options:
  --root DIR         repository root (default: two levels above run.mjs)
  --heap BYTES       initial MicroPython GC heap; k/m suffixes allowed (default 128k).
                     This build grows the heap on demand, so it is not a hard cap.
  --timeout SECONDS  fail a test that has not finished after this long (default 30)
  -k PATTERN         select tests (repeatable; same as a positional PATTERN)
  -v, --verbose      also print a line for each passing test
  -h, --help         show this help

PATTERN selects modules by name, e.g. test_frames, 'test_hand*'; a plain word
matches as a substring, * and ? as a glob. MODULE::TEST narrows to test names
the same way, e.g. 'test_frames::*ping*'. Several patterns select their union.`;

// The Python side: imports modules, lists tests, runs one test, and turns any
// exception into a traceback string. It only uses what the WebAssembly build has.
const HARNESS_SOURCE = `
import gc
import io
import sys


def _traceback(exc):
    out = io.StringIO()
    sys.print_exception(exc, out)
    return out.getvalue()


def load(modname):
    """Import a test module; return "" or the import's traceback."""
    try:
        __import__(modname)
    except BaseException as exc:  # SyntaxError, ImportError, anything at import time
        sys.modules.pop(modname, None)
        return _traceback(exc)
    return ""


def names(modname):
    """Newline-separated top-level callables named test_*."""
    mod = sys.modules[modname]
    found = []
    for name in dir(mod):
        if name.startswith("test_") and callable(getattr(mod, name)):
            found.append(name)
    return "\\n".join(found)


async def run(modname, name):
    """Run one test; return "" or its traceback."""
    try:
        result = getattr(sys.modules[modname], name)()
        # MicroPython's coroutines are generators. This build has no asyncio.run:
        # the JS event loop drives asyncio, and JS awaits run() itself. The test
        # gets a Task of its own, as asyncio.run would give it, because the
        # coroutine JS awaits cannot be thrown into (wait_for, cancel fail there).
        if result is not None and hasattr(result, "send"):
            import asyncio

            await asyncio.create_task(result)
    except BaseException as exc:  # CancelledError is a BaseException too
        return _traceback(exc)
    finally:
        gc.collect()
    return ""
`;

class UsageError extends Error {}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text ?? "");
  if (!m) throw new UsageError(`--heap needs a size like 131072, 128k or 1m, not ${text}`);
  const scale = { "": 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase()];
  return parseInt(m[1], 10) * scale;
}

function parseArgs(argv) {
  const opts = {
    root: path.resolve(HERE, "..", ".."),
    heap: 128 * 1024,
    timeout: 30,
    verbose: false,
    patterns: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case "-h":
      case "--help":
        console.log(USAGE);
        process.exit(0);
        break;
      case "--root":
        opts.root = path.resolve(value());
        break;
      case "--heap":
        opts.heap = parseSize(value());
        break;
      case "--timeout": {
        const seconds = Number(value());
        if (!(seconds > 0)) throw new UsageError("--timeout needs a positive number of seconds");
        opts.timeout = seconds;
        break;
      }
      case "-k":
        opts.patterns.push(value());
        break;
      case "-v":
      case "--verbose":
        opts.verbose = true;
        break;
      default:
        if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
        opts.patterns.push(arg);
    }
  }
  return opts;
}

function matcher(pattern) {
  if (!/[*?]/.test(pattern)) return (name) => name.includes(pattern);
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  const compiled = new RegExp(`^${re}$`);
  return (name) => compiled.test(name);
}

// Each selector: {module: fn, test: fn | null}. No patterns selects everything.
function selectors(patterns) {
  return patterns.map((p) => {
    const [mod, test] = p.includes("::") ? p.split("::", 2) : [p, null];
    return { module: matcher(mod.replace(/\.py$/, "")), test: test === null ? null : matcher(test) };
  });
}

function listFiles(dir, keep) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, keep));
    else if (entry.isFile() && keep(entry.name)) out.push(full);
  }
  return out;
}

// Output: MicroPython writes one byte at a time; lines are assembled here so
// that our own lines never land in the middle of a test's print().
function lineWriter(stream) {
  let pending = [];
  const decoder = new TextDecoder();
  return {
    byte(bytes) {
      for (const b of bytes) {
        pending.push(b);
        if (b === 10) this.flush();
      }
    },
    flush() {
      if (pending.length === 0) return;
      if (pending[pending.length - 1] !== 10) pending.push(10);
      stream.write(decoder.decode(new Uint8Array(pending)));
      pending = [];
    },
  };
}

// Indent a traceback under its FAILED line, without the harness's own frame.
function indent(text) {
  return text
    .replace(/\s+$/, "")
    .split("\n")
    .filter((l) => !l.includes(`"/lib/${HARNESS}.py"`))
    .map((l) => "    " + l)
    .join("\n");
}

// Definition order, as pytest runs them; callables not found by this scan
// (assigned, imported) follow in name order.
function orderTests(source, found) {
  const order = [];
  for (const m of source.matchAll(/^(?:async\s+)?def\s+(test_\w+)\s*\(/gm)) {
    if (found.includes(m[1]) && !order.includes(m[1])) order.push(m[1]);
  }
  return order.concat(found.filter((n) => !order.includes(n)).sort());
}

function withTimeout(promise, seconds) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(`TimeoutError: test still running after ${seconds} s\n`), seconds * 1000);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const testRoot = path.join(opts.root, TEST_DIR);
  if (!fs.existsSync(testRoot)) throw new UsageError(`no ${TEST_DIR} under ${opts.root}`);

  let loadMicroPython;
  try {
    ({ loadMicroPython } = await import(NPM_PACKAGE));
  } catch (err) {
    const rel = path.relative(process.cwd(), HERE);
    const prefix = rel === "" ? "." : rel.startsWith("..") ? HERE : rel;
    throw new UsageError(`cannot load ${NPM_PACKAGE} (${err.code ?? err.message}); run: npm ci --prefix ${prefix}`);
  }

  const out = lineWriter(process.stdout);
  const err = lineWriter(process.stderr);
  const say = (line) => {
    out.flush();
    err.flush();
    process.stdout.write(line + "\n");
  };

  const mp = await loadMicroPython({
    heapsize: opts.heap,
    linebuffer: false,
    stdout: (bytes) => out.byte(bytes),
    stderr: (bytes) => err.byte(bytes),
  });

  // MEMFS, in memory: files are copied, never mounted from the host.
  const copy = (file) => {
    const rel = path.relative(opts.root, file).split(path.sep).join("/");
    const target = `${VFS_ROOT}/${rel}`;
    mp.FS.mkdirTree(path.posix.dirname(target));
    mp.FS.writeFile(target, fs.readFileSync(file));
  };
  for (const pkg of PACKAGES) listFiles(path.join(opts.root, pkg), (n) => n.endsWith(".py")).forEach(copy);
  listFiles(testRoot, (n) => !n.endsWith(".pyc")).forEach(copy);
  mp.FS.mkdirTree("/lib");
  mp.FS.writeFile(`/lib/${HARNESS}.py`, HARNESS_SOURCE);

  // Mirror pytest's default (prepend) import mode: with an __init__.py the test
  // modules are tests.portable.test_x, without one they are test_x and their
  // directory goes on sys.path so sibling helpers import by bare name.
  const asPackage = fs.existsSync(path.join(testRoot, "__init__.py"));
  const prefix = asPackage ? TEST_DIR.replace(/\//g, ".") + "." : "";
  mp.runPython(
    `import os, sys\nos.chdir(${JSON.stringify(VFS_ROOT)})\n` +
      (asPackage ? "" : `sys.path.insert(1, ${JSON.stringify(TEST_DIR)})\n`),
  );
  const harness = mp.pyimport(HARNESS);

  const chosen = selectors(opts.patterns);
  const modules = fs
    .readdirSync(testRoot)
    .filter((n) => /^test_\w*\.py$/.test(n))
    .map((n) => n.slice(0, -3))
    .sort()
    .filter((m) => chosen.length === 0 || chosen.some((s) => s.module(m)));

  let passed = 0;
  let failed = 0;
  for (const mod of modules) {
    const file = `${TEST_DIR}/${mod}.py`;
    const importError = harness.load(prefix + mod);
    if (importError) {
      failed++;
      say(`FAILED ${file} (import)\n${indent(importError)}`);
      continue;
    }
    const found = harness.names(prefix + mod).split("\n").filter(Boolean);
    const wanted = (name) =>
      chosen.length === 0 || chosen.some((s) => s.module(mod) && (s.test === null || s.test(name)));
    const tests = orderTests(fs.readFileSync(path.join(opts.root, file), "utf8"), found).filter(wanted);
    for (const name of tests) {
      let traceback;
      try {
        traceback = await withTimeout(harness.run(prefix + mod, name), opts.timeout);
      } catch (e) {
        // Only the harness itself can get here (it catches BaseException).
        traceback = e.name === "PythonError" ? e.message : String(e.stack ?? e);
      }
      if (traceback) {
        failed++;
        say(`FAILED ${file}::${name}\n${indent(traceback)}`);
      } else {
        passed++;
        if (opts.verbose) say(`PASSED ${file}::${name}`);
      }
    }
  }

  if (passed + failed === 0) {
    say(opts.patterns.length ? `no tests matched ${opts.patterns.join(" ")}` : `no tests found in ${TEST_DIR}`);
  }
  say(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    // Print the message only: an uncaught error would make Node echo a line of
    // the minified micropython.mjs, which is hundreds of kilobytes long.
    if (e instanceof UsageError) console.error(`run.mjs: ${e.message}`);
    else console.error(e.name === "PythonError" ? e.message : String(e.stack ?? e));
    process.exit(2);
  },
);
