#!/usr/bin/env node
// Heap cost of wsproto_lite on MicroPython (the WebAssembly build under Node.js), and
// of Microdot's websocket module measured the same way when its files are given.
//
// Measures, each scenario in a fresh MicroPython VM:
//   - import: heap kept by importing the core, then transports.uasyncio (and
//     microdot, then microdot.websocket), and the heap allocated during the import;
//   - per connection: heap growth / N for N server-side WebSockets after the
//     handshake, idle; then after one 64-byte message echoed on each;
//   - one big message: the heap needed to receive() it, and what stays afterwards.
// The Python side is mem.py (beside this file); see its docstring for the method.
//
// Usage: node tests/micropython/mem.mjs [--root DIR] [--microdot DIR] [--mpy DIR]
//            [--connections N] [--size BYTES] [--only imports,connections,receive] [--json]
//
// --microdot DIR: a directory holding Microdot's package (DIR/microdot/__init__.py,
//   microdot.py, helpers.py, websocket.py), e.g. unpacked from its wheel; without it
//   the Microdot rows are skipped. benchmarks/micropython_memory.py fetches it.
// --mpy DIR: import .mpy files from DIR (DIR/wsproto_lite/*.mpy, DIR/transports/*.mpy,
//   DIR/microdot/*.mpy) instead of the .py sources, as a board with precompiled files.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript";
const VFS_ROOT = "/repo";
const MICRODOT_FILES = ["__init__.py", "microdot.py", "helpers.py", "websocket.py"];
// transports/asyncio.py, blocking.py and testing.py are CPython-only: never loaded here.
const OURS = {
  wsproto_lite: null, // every file
  transports: ["__init__", "_common", "uasyncio"],
};

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    root: path.resolve(HERE, "..", ".."),
    microdot: null,
    mpy: null,
    connections: 20,
    size: 16384,
    json: false,
    only: ["imports", "connections", "receive"],
    scenario: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--root":
        opts.root = path.resolve(value());
        break;
      case "--microdot":
        opts.microdot = path.resolve(value());
        break;
      case "--mpy":
        opts.mpy = path.resolve(value());
        break;
      case "--connections":
        opts.connections = parseInt(value(), 10);
        if (!(opts.connections > 0)) throw new UsageError("--connections needs a positive count");
        break;
      case "--size":
        opts.size = parseInt(value(), 10);
        if (!(opts.size > 0)) throw new UsageError("--size needs a positive byte count");
        break;
      case "--json":
        opts.json = true;
        break;
      case "--only":
        opts.only = value().split(",");
        for (const part of opts.only) {
          if (!["imports", "connections", "receive"].includes(part)) {
            throw new UsageError(`--only takes imports, connections and/or receive, not ${part}`);
          }
        }
        break;
      case "--scenario": // internal: run one scenario in this process, print its JSON
        opts.scenario = JSON.parse(value());
        break;
      case "-h":
      case "--help":
        console.log(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n\nimport")[0]);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if (opts.microdot) {
    for (const f of MICRODOT_FILES) {
      const p = path.join(opts.microdot, "microdot", f);
      if (!fs.existsSync(p) && !(opts.mpy && fs.existsSync(p.replace(/\.py$/, ".mpy")))) {
        throw new UsageError(`--microdot ${opts.microdot}: no microdot/${f}`);
      }
    }
  }
  return opts;
}

let loadMicroPython;

// A fresh VM with our packages, mem.py and (optionally) Microdot in its filesystem.
async function newVM(opts, { microdot = false } = {}) {
  const mp = await loadMicroPython({
    heapsize: 4 * 1024 * 1024, // the heap grows on demand anyway; this avoids growing
    linebuffer: true,
    stdout: (line) => process.stderr.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  const put = (rel, data) => {
    const target = `${VFS_ROOT}/${rel}`;
    mp.FS.mkdirTree(path.posix.dirname(target));
    mp.FS.writeFile(target, data);
  };
  for (const [pkg, only] of Object.entries(OURS)) {
    const dir = path.join(opts.root, pkg);
    const names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(".py"))
      .map((n) => n.slice(0, -3))
      .filter((n) => only === null || only.includes(n));
    for (const name of names) {
      const compiled = opts.mpy && path.join(opts.mpy, pkg, name + ".mpy");
      if (compiled && fs.existsSync(compiled)) put(`${pkg}/${name}.mpy`, fs.readFileSync(compiled));
      else if (opts.mpy) throw new Error(`--mpy ${opts.mpy}: no ${pkg}/${name}.mpy`);
      else put(`${pkg}/${name}.py`, fs.readFileSync(path.join(dir, name + ".py")));
    }
  }
  if (microdot) {
    for (const f of MICRODOT_FILES) {
      const src = path.join(opts.microdot, "microdot", f);
      const compiled = opts.mpy && path.join(opts.mpy, "microdot", f.replace(/\.py$/, ".mpy"));
      if (compiled && fs.existsSync(compiled)) put(`microdot/${path.basename(compiled)}`, fs.readFileSync(compiled));
      else put(`microdot/${f}`, fs.readFileSync(src));
    }
  }
  put("mem.py", fs.readFileSync(path.join(HERE, "mem.py")));
  put("sha1_shim.py", fs.readFileSync(path.join(HERE, "sha1_shim.py")));
  mp.runPython(`import os\nos.chdir(${JSON.stringify(VFS_ROOT)})\n`);
  const mem = mp.pyimport("mem");
  // Live heap: collect() marks a collection as due, which runs as the call returns to
  // JavaScript; the next call reads the heap.
  const live = async () => {
    // JavaScript's own GC first: Python objects handed to JavaScript (the callbacks of
    // the promises a paused read awaits) stay referenced until their proxies are
    // finalised, which happens in a later task after a JavaScript collection.
    if (globalThis.gc) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    mem.collect();
    return mem.alloc();
  };
  // Run an async mem.py function to completion, from outside any Python call.
  const run = async (name, ...args) => {
    mem.start(name, ...args);
    while (!mem.finished()) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  return { mp, mem, live, run };
}

// -- scenarios ---------------------------------------------------------------------

async function importCost(opts, lib) {
  const { mem, live } = await newVM(opts, { microdot: lib === "microdot" });
  mem.baseline_imports(lib === "microdot");
  const groups = lib === "microdot" ? ["microdot", "microdot.websocket"] : ["core", "uasyncio"];
  const rows = [];
  let before = await live();
  for (const group of groups) {
    const during = mem.do_import(group); // heap in use at the end of the import, nothing freed
    const after = await live();
    rows.push({ group, kept: after - before, allocated: during - before });
    before = after;
  }
  return rows;
}

async function perConnection(opts, lib, mode) {
  const { mem, live, run } = await newVM(opts, { microdot: lib === "microdot" });
  mem.use(lib);
  // Warm-up: one connection through the same steps, so first-use costs (interned
  // names, caches) are not charged to the measured connections; then dropped.
  mem.prepare(1, mode);
  await run("open_all", mode);
  await run("echo_all", mode);
  mem.reset();
  const n = opts.connections;
  mem.prepare(n, mode);
  const base = await live();
  await run("open_all", mode);
  const opened = await live();
  await run("echo_all", mode);
  const echoed = await live();
  mem.reset();
  return { idle: (opened - base) / n, afterEcho: (echoed - base) / n };
}

async function bigMessage(opts, lib, text, segmented) {
  const { mem, live, run } = await newVM(opts, { microdot: lib === "microdot" });
  mem.use(lib);
  await run("prepare_receive", opts.size, text, segmented);
  const base = await live();
  await run("receive_one");
  const peak = mem.peak() - base;
  const withMessage = (await live()) - base;
  mem.drop_message();
  const kept = (await live()) - base;
  mem.reset();
  return { peak, withMessage, kept };
}

// -- output ------------------------------------------------------------------------

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const bytes = (n) => `${Math.round(n)} B`;

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

// One scenario per process: the WebAssembly build keeps its JavaScript-side state in
// globals (and asyncio's timers call back into them), so VMs must not share a process.
async function version(opts) {
  const { mem } = await newVM(opts);
  return mem.version();
}

const SCENARIOS = { version, importCost, perConnection, bigMessage };

function runScenario(argv, name, ...args) {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", fileURLToPath(import.meta.url), ...argv, "--scenario", JSON.stringify([name, ...args])],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out);
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  try {
    ({ loadMicroPython } = await import(NPM_PACKAGE));
  } catch (err) {
    throw new UsageError(`cannot load ${NPM_PACKAGE} (${err.code ?? err.message}); run: npm ci --prefix ${HERE}`);
  }
  if (opts.scenario) {
    const [name, ...args] = opts.scenario;
    const result = await SCENARIOS[name](opts, ...args);
    process.stdout.write(JSON.stringify(result) + "\n");
    return 0;
  }
  const scenario = (name, ...args) => runScenario(argv, name, ...args);
  const libs = ["wsproto_lite"];
  if (opts.microdot) libs.push("microdot");
  const result = {
    version: scenario("version"),
    connections: opts.connections,
    size: opts.size,
    source: opts.mpy ? "mpy" : "py",
  };

  result.imports = {};
  result.perConnection = {};
  result.receive = {};
  if (opts.only.includes("imports")) {
    for (const lib of libs) result.imports[lib] = scenario("importCost", lib);
  }
  const modes = { wsproto_lite: ["objects", "tasks", "serve"], microdot: ["objects", "tasks"] };
  for (const lib of opts.only.includes("connections") ? libs : []) {
    result.perConnection[lib] = {};
    for (const mode of modes[lib]) result.perConnection[lib][mode] = scenario("perConnection", lib, mode);
  }
  for (const lib of opts.only.includes("receive") ? libs : []) {
    result.receive[lib] = {};
    for (const [label, text, segmented] of [
      ["binary, all queued", false, false],
      ["binary, segments", false, true],
      ["text, all queued", true, false],
      ["text, segments", true, true],
    ]) {
      result.receive[lib][label] = scenario("bigMessage", lib, text, segmented);
    }
  }

  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  const out = [`MicroPython ${result.version}, WebAssembly build; modules loaded from .${result.source} files`];
  if (opts.only.includes("imports")) {
    out.push("", "Import: heap kept (after a collection) and allocated during the import");
    const rows = [];
    for (const lib of libs) {
      let kept = 0;
      for (const r of result.imports[lib]) {
        rows.push([r.group, kib(r.kept), kib(r.allocated)]);
        kept += r.kept;
      }
      rows.push([`${lib} total`, kib(kept), ""]);
    }
    out.push(table(["modules", "kept", "allocated"], rows));
  }
  if (opts.only.includes("connections")) {
    out.push("", `Per connection: heap growth / ${opts.connections} server connections after the handshake`);
    const modeName = {
      objects: "websocket_upgrade(request), WebSocket kept",
      tasks: "with_websocket route task parked in receive()",
      serve: "serve_connection task parked in receive()",
    };
    const rows = [];
    for (const lib of libs) {
      for (const [mode, r] of Object.entries(result.perConnection[lib])) {
        rows.push([lib, modeName[mode], bytes(r.idle), bytes(r.afterEcho)]);
      }
    }
    out.push(table(["library", "per connection", "idle", "after a 64 B echo"], rows));
  }
  if (opts.only.includes("receive")) {
    out.push(
      "",
      `Receiving one ${opts.size}-byte message on an open connection: heap above the idle connection`,
    );
    const rows = [];
    for (const lib of libs) {
      for (const [label, r] of Object.entries(result.receive[lib])) {
        rows.push([lib, label, kib(r.peak), kib(r.withMessage), bytes(r.kept)]);
      }
    }
    out.push(table(["library", "message, arrival", "peak", "message held", "message dropped"], rows));
  }
  console.log(out.join("\n"));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) console.error(`mem.mjs: ${e.message}`);
    else console.error(e.name === "PythonError" ? e.message : String(e.stack ?? e));
    process.exit(2);
  },
);
