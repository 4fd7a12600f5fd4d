"""End-to-end echo over loopback: our asyncio server against websockets, aiohttp and picows.

    python benchmarks/echo.py [--quick] [--rounds N] [--servers ours,websockets,aiohttp,picows]
                              [--only TEXT] [--duration SECONDS] [--profile DIR]
                              [--compression deflate] [--text]

Every server runs in its own process (echo_server.py, started and stopped here) and the
load comes from another process (loadgen.py: raw asyncio, pre-masked frames), so server
and generator share the machine's cores as they would in production. Each round measures
every server once, starting with a different one each round; reported are medians of the
rounds and ratios against websockets. See benchmarks/README.md, "End-to-end echo".

`--compression deflate` runs the JSON-text cases with permessage-deflate negotiated on
every connection (the generator offers it and fails unless the server agrees; every
server keeps its own default compression settings); `--text` runs the same cases
without compression, for reference. See README.md, "permessage-deflate".
"""

import argparse
import json
import os
import platform
import pstats
import subprocess
import sys
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402
import _servers as s  # noqa: E402
from loadgen import DEFLATE_OFFER  # noqa: E402

BASE = "websockets"  # ratios are against this server

# (label, payload bytes, connections, messages in flight per connection)
CASES = [
    ("64 B, 1 in flight", 64, 1, 1),
    ("64 B, 100 in flight", 64, 1, 100),
    ("64 KiB, 1 in flight", 1 << 16, 1, 1),
    ("64 KiB, 100 in flight", 1 << 16, 1, 100),
    ("64 B, 100 conns x 1", 64, 100, 1),
]

# --text and --compression deflate: JSON-like text (_harness.json_text), a pool of distinct
# messages sent in turn.
TEXT_CASES = [
    ("1 KiB JSON, 1 in flight", 1 << 10, 1, 1),
    ("1 KiB JSON, 100 in flight", 1 << 10, 1, 100),
    ("64 KiB JSON, 1 in flight", 1 << 16, 1, 1),
    ("64 KiB JSON, 100 in flight", 1 << 16, 1, 100),
]

# Minimum ours / websockets message rate, by case label.
TARGETS = {
    "64 B, 100 in flight": 2.0,
    "64 KiB, 1 in flight": 1.0,
    "64 KiB, 100 in flight": 1.0,
}


def load_flags(args: Any) -> "List[str]":
    """The generator's message options: compressed text, plain text, or binary."""
    if args.compression == "deflate":
        return ["--compression=deflate"]
    return ["--text"] if args.text else []


def measure(
    server: s.ServerProcess,
    size: int,
    conns: int,
    window: int,
    warmup: float,
    duration: float,
    flags: "List[str]",
) -> "Dict[str, Any]":
    command = [
        sys.executable,
        s.LOADGEN_SCRIPT,
        "--port=%d" % server.port,
        "--ctl=%d" % server.ctl,
        "--size=%d" % size,
        "--connections=%d" % conns,
        "--window=%d" % window,
        "--warmup=%g" % warmup,
        "--duration=%g" % duration,
        *flags,
    ]
    return run_loadgen(server, command, timeout=60 + warmup + duration)


def run_loadgen(server: s.ServerProcess, command: "List[str]", timeout: float) -> "Dict[str, Any]":
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(
            "load generator failed against %s:\n%s\nserver stderr:\n%s"
            % (server.name, result.stderr[-3000:], server.errors())
        )
    out: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    if us < 1000:
        return "%.0f us" % us
    return "%.1f ms" % (us / 1000)


def profile(servers: "dict[str, s.ServerProcess]", cases: "List[Any]", args: Any) -> int:
    os.makedirs(args.profile, exist_ok=True)
    for label, size, conns, window in cases:
        for name, server in servers.items():
            path = os.path.join(
                os.path.abspath(args.profile),
                "%s-%s.prof" % (name, label.replace(" ", "").replace(",", "_")),
            )
            command = [
                sys.executable,
                s.LOADGEN_SCRIPT,
                "--port=%d" % server.port,
                "--ctl=%d" % server.ctl,
                "--size=%d" % size,
                "--connections=%d" % conns,
                "--window=%d" % window,
                "--warmup=%g" % args.warmup,
                "--duration=%g" % args.duration,
                "--profile=%s" % path,
                *load_flags(args),
            ]
            result = run_loadgen(server, command, timeout=120)
            print(
                "== %s, %s: %d messages under cProfile -> %s"
                % (name, label, result["messages"], path)
            )
            stats = pstats.Stats(path, stream=sys.stdout)
            stats.strip_dirs().sort_stats("tottime").print_stats(25)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: numbers mean nothing")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 1)")
    parser.add_argument("--servers", help="comma-separated, default ours,websockets,aiohttp,picows")
    parser.add_argument("--only", default="", help="run only the cases whose label contains TEXT")
    parser.add_argument("--duration", type=float, help="seconds timed per measurement (2)")
    parser.add_argument("--warmup", type=float, help="seconds of load before timing (0.5)")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement here")
    parser.add_argument(
        "--profile", metavar="DIR", help="no timing: one cProfile'd run per server and case"
    )
    parser.add_argument(
        "--compression",
        choices=("none", "deflate"),
        default="none",
        help="deflate: the JSON-text cases with permessage-deflate negotiated",
    )
    parser.add_argument(
        "--text", action="store_true", help="the JSON-text cases, uncompressed (reference)"
    )
    args = parser.parse_args()
    deflate = args.compression == "deflate"
    if deflate and not args.servers:
        args.servers = "ours,websockets,aiohttp"  # picows does not do permessage-deflate
    rounds = args.rounds or (1 if args.quick else 5)
    args.duration = args.duration or (0.2 if args.quick else 2.0)
    args.warmup = args.warmup if args.warmup is not None else (0.1 if args.quick else 0.5)
    names = s.parse_servers(args.servers)
    missing = s.missing_peers(names)
    if missing:
        print(
            "not installed: %s (pip install -e '.[bench]'); running without them"
            % ", ".join(missing),
            file=sys.stderr,
        )
        names = [n for n in names if n not in missing]
    all_cases = TEXT_CASES if deflate or args.text else CASES
    cases = [c for c in all_cases if args.only in c[0]]

    print("Python %s (%s)" % (platform.python_version(), platform.python_implementation()))
    print(
        "platform %s, %s CPUs, load average %s"
        % (platform.platform(), os.cpu_count(), s.load_average())
    )
    print(s.describe_peers())
    print(
        "servers: %s, each in its own process; load generator in another (raw asyncio)"
        % ", ".join(names)
    )
    print(
        "%d rounds, %.1f s warm-up + %.1f s timed per measurement, median of rounds%s"
        % (
            rounds,
            args.warmup,
            args.duration,
            ", QUICK (numbers meaningless)" if args.quick else "",
        )
    )
    if deflate or args.text:
        print(
            "messages: JSON-like text; compression: %s"
            % (
                "permessage-deflate offered as %r and required" % DEFLATE_OFFER
                if deflate
                else "none offered"
            )
        )
    print()

    servers = s.start_servers(names)
    try:
        if args.profile:
            return profile(servers, cases, args)
        results: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
        for label, size, conns, window in cases:
            print("running %s ..." % label, file=sys.stderr, flush=True)
            per_server: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
            for r in range(rounds):
                k = r % len(names)
                for name in names[k:] + names[:k]:
                    per_server[name].append(
                        measure(
                            servers[name],
                            size,
                            conns,
                            window,
                            args.warmup,
                            args.duration,
                            load_flags(args),
                        )
                    )
            results[label] = per_server
    finally:
        s.stop_servers(servers)
    print("load average at the end %s" % s.load_average())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print()
    if deflate:
        for name in names:
            first = next(iter(results.values()), {}).get(name, [{}])
            print("%s agreed: %s" % (name, first[0].get("extensions", "?")))
        print()
    report(results, names, text=deflate or args.text)
    return 0


def med(runs: "List[Dict[str, Any]]", key: str) -> float:
    return h.median([run[key] for run in runs])


def per_message(runs: "List[Dict[str, Any]]", key: str) -> float:
    """Median over the rounds of CPU microseconds (field `key`) per message echoed."""
    return h.median([1e6 * run[key] / max(run["messages"], 1) for run in runs])


def busy(runs: "List[Dict[str, Any]]", key: str) -> float:
    """Median over the rounds of CPU seconds (field `key`) per wall second."""
    return h.median([run[key] / run["seconds"] for run in runs])


def report(
    results: "Dict[str, Dict[str, List[Dict[str, Any]]]]", names: "List[str]", text: bool = False
) -> None:
    peers = [n for n in names if n != BASE] if BASE in names else []
    print("Messages echoed per second (median of rounds); ratios are server / %s:" % BASE)
    print()
    header = ["case"] + ["%s msg/s" % n for n in names]
    header += ["%s/%s" % (n, BASE) for n in peers]
    has_ours = "ours" in names
    if has_ours:
        header += ["ours spread", "target"]
    rows = []
    for label, per_server in results.items():
        rates = {n: med(per_server[n], "rate") for n in names}
        row = [label] + [h.fmt_rate(rates[n]) for n in names]
        row += ["%.2fx" % (rates[n] / rates[BASE]) for n in peers]
        if has_ours:
            row.append("%.0f%%" % (100 * h.spread([run["rate"] for run in per_server["ours"]])))
            need = TARGETS.get(label)
            verdict = ""
            if need is not None and BASE in names:
                ratio = rates["ours"] / rates[BASE]
                verdict = "PASS" if ratio >= need else "MISS %s<%gx" % (BASE, need)
            row.append(verdict)
        rows.append(row)
    h.print_table(header, rows)
    print()

    print("Round trip, send to echo received: p50 / p99 (median of rounds' percentiles):")
    print()
    rows = []
    for label, per_server in results.items():
        rows.append(
            [label]
            + [
                "%s / %s"
                % (fmt_time(med(per_server[n], "p50")), fmt_time(med(per_server[n], "p99")))
                for n in names
            ]
        )
    h.print_table(["case"] + names, rows)
    print()

    print("Server CPU time per message echoed (median of rounds; lower is better) and the")
    print("share of a core each server used over the timed window; ours/%s CPU below" % BASE)
    print("1.00x means ours spends less CPU per message:")
    print()
    header = ["case"] + ["%s us/msg" % n for n in names]
    if has_ours and BASE in names:
        header.append("ours/%s CPU" % BASE)
    header += ["%s busy" % n for n in names]
    rows = []
    for label, per_server in results.items():
        cpu = {n: per_message(per_server[n], "server_cpu") for n in names}
        row = [label] + ["%.1f" % cpu[n] for n in names]
        if has_ours and BASE in names:
            row.append("%.2fx" % (cpu["ours"] / cpu[BASE]))
        row += ["%.0f%%" % (100 * busy(per_server[n], "server_cpu")) for n in names]
        rows.append(row)
    h.print_table(header, rows)
    print()

    print("The load generator's CPU time per message and share of a core, by server driven")
    print("(it is not the bottleneck while it needs less CPU per message than the server):")
    print()
    header = ["case"] + ["gen us/msg %s" % n for n in names] + ["gen busy %s" % n for n in names]
    rows = []
    for label, per_server in results.items():
        row = [label] + ["%.1f" % per_message(per_server[n], "gen_cpu") for n in names]
        row += ["%.0f%%" % (100 * busy(per_server[n], "gen_cpu")) for n in names]
        rows.append(row)
    h.print_table(header, rows)
    print()
    print("One connection unless the case says conns; N in flight: the generator keeps N")
    print("messages sent but not yet echoed, sending the next as each echo arrives.")
    print("busy: process CPU seconds / wall seconds of the timed window (100% = one core).")
    print("ours spread: (max - min) / median of our rounds' rates; large means a noisy machine.")
    if text:
        print(
            "msg/s ratios: above 1.00x the server echoes more messages per second than %s." % BASE
        )
    else:
        print("targets: ours >= 2x websockets' rate at 64 B with 100 in flight, >= 1x at 64 KiB.")


if __name__ == "__main__":
    sys.exit(main())
