"""Timing and test-data helpers for the benchmarks; no implementation under test is imported.

Frames are built here, independently of wsproto_lite's encoder, so every implementation
parses the same bytes whoever's encoder is being optimised. Timing runs every
implementation in the same process, interleaved round by round, and compares medians.
"""

import argparse
import gc
import random
import statistics
import struct
import time
import zlib
from collections.abc import Callable

FIXED_KEY = b"\x37\xfa\x21\x3d"  # not all-zero: a zero key would make unmasking free
CHUNK = 64 * 1024  # network reads are simulated as 64 KiB pieces

# Every benchmark body reads this clock: wall time by default; --cpu switches to the
# process's CPU time, which leaves out the time other processes of a shared machine take.
clock = time.perf_counter


def use_cpu_clock() -> None:
    global clock
    clock = time.process_time


# A benchmark body: given a repetition count, set up, time the work with perf_counter and
# return (seconds, messages handled). Setup outside the timed region is not counted.
Bench = Callable[[int], "tuple[float, int]"]


def case_options(
    description: str,
    more: "Callable[[argparse.ArgumentParser], None] | None" = None,
) -> "tuple[argparse.Namespace, int, float]":
    """The command line shared by the interleaved case benchmarks (core.py, deflate_core.py):
    (options, rounds, seconds per measurement); --cpu switches the clock here. `more`
    adds a script's own options to the parser."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small counts, 2 rounds: a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7, quick 2)")
    parser.add_argument("--time", type=float, help="seconds per measurement (default 0.15)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time with process CPU time instead of wall time (steadier on a busy machine)",
    )
    parser.add_argument("--only", default="", help="run only the cases whose name contains TEXT")
    if more is not None:
        more(parser)
    options = parser.parse_args()
    rounds = options.rounds or (2 if options.quick else 7)
    seconds = options.time or (0.005 if options.quick else 0.15)
    if options.cpu:
        use_cpu_clock()
    return options, rounds, seconds


def print_settings(options: argparse.Namespace, rounds: int, seconds: float) -> None:
    """The line that says how a case benchmark measured."""
    print(
        "%d rounds, ~%.3f s per measurement, %s, median of rounds; reads of %d bytes%s"
        % (
            rounds,
            seconds,
            "process CPU time" if options.cpu else "wall time (perf_counter)",
            CHUNK,
            ", QUICK (numbers meaningless)" if options.quick else "",
        )
    )


def xor_mask(data: bytes, key: bytes) -> bytes:
    """XOR data with a repeating 4-byte key (RFC 6455 §5.3)."""
    n = len(data)
    pad = key * (n // 4) + key[: n % 4]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def build_frame(
    opcode: int,
    payload: bytes,
    fin: bool = True,
    key: "bytes | None" = None,
    rsv1: bool = False,
) -> bytes:
    """One frame with a minimal length field; masked with `key` when given.

    `rsv1` sets RSV1, the permessage-deflate bit of a compressed message's first frame.
    """
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    m = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        head = bytes((b0, m | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if key is None:
        return head + payload
    return head + key + xor_mask(payload, key)


def read_frame(wire: bytes) -> "tuple[int, bool, bytes, int]":
    """Parse the first frame of `wire`: (opcode, fin, unmasked payload, bytes used)."""
    b0, b1 = wire[0], wire[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", wire, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from("!Q", wire, 2)
        pos = 10
    if b1 & 0x80:
        key = wire[pos : pos + 4]
        pos += 4
        payload = xor_mask(wire[pos : pos + n], key)
    else:
        payload = wire[pos : pos + n]
    return b0 & 0x0F, bool(b0 & 0x80), payload, pos + n


def chop(data: bytes, size: int = CHUNK) -> "list[bytes]":
    """Cut a stream into `size`-byte reads; frames straddle the cuts, as on a socket."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def binary_payload(size: int, seed: int = 6455) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed + size).randbytes(size)


def multibyte_text(nbytes: int) -> str:
    """Text of exactly `nbytes` UTF-8 bytes: mostly 2-, 3- and 4-byte code points."""
    unit = "\u00e9\u20ac\U0001f600\u0436\u4e2d\U00010348"  # é € 😀 ж 中 𐍈: 2+3+4+2+3+4 bytes
    unit_len = len(unit.encode("utf-8"))
    text = unit * (nbytes // unit_len)
    text += "a" * (nbytes - len(text.encode("utf-8")))  # ASCII tail for the exact size
    assert len(text.encode("utf-8")) == nbytes
    return text


_WORDS = [
    *("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"),
    *("juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"),
    *("sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"),
]
_CITIES = ["Lyon", "Porto", "Kyoto", "Quito", "Oslo", "Cairo", "Lima", "Perth", "Pune", "Riga"]


def json_text(nbytes: int, seed: int = 7692) -> str:
    """Deterministic JSON of exactly `nbytes` ASCII bytes: an array of small records.

    Records repeat their keys and draw values from small vocabularies, as API payloads
    do, so the text compresses about as well as real JSON (3-5x with zlib). Spaces
    before the closing bracket make up the exact size.
    """
    rng = random.Random(seed * 1000003 + nbytes)
    records: list[str] = []
    size = 2  # the brackets
    while True:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
        record = (
            '{"id":%d,"user":"%s%d","city":"%s","score":%.3f,"active":%s,"tags":[%s],'
            '"note":"%s"}'
            % (
                rng.randint(1, 10**6),
                rng.choice(_WORDS),
                rng.randint(1, 999),
                rng.choice(_CITIES),
                rng.random() * 100,
                "true" if rng.random() < 0.5 else "false",
                ",".join('"%s"' % rng.choice(_WORDS) for _ in range(rng.randint(0, 3))),
                words,
            )
        )
        extra = len(record) + (1 if records else 0)
        if size + extra > nbytes:
            break
        records.append(record)
        size += extra
    text = "[" + ",".join(records) + " " * (nbytes - size) + "]"
    if nbytes < 2:
        text = " " * nbytes
    assert len(text) == nbytes
    return text


DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: the end of every sync flush


def deflate_message(compressor: "zlib._Compress", data: bytes) -> bytes:
    """One permessage-deflate message body: compress, sync-flush, drop 00 00 ff ff."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(DEFLATE_TAIL)
    return out[:-4]


def raw_compressor(window_bits: int = 15, mem_level: int = 8) -> "zlib._Compress":
    """A raw-deflate compressor (no zlib header), as permessage-deflate uses."""
    return zlib.compressobj(6, zlib.DEFLATED, -window_bits, mem_level)


def measure(bench: Bench, reps: int) -> "tuple[float, int]":
    """Run one timed measurement with the garbage collector paused, as timeit does."""
    gc.collect()
    gc.disable()
    try:
        return bench(reps)
    finally:
        gc.enable()


def calibrate(bench: Bench, target: float) -> int:
    """Pick a repetition count that makes one measurement take about `target` seconds."""
    reps = 1
    for _ in range(4):
        elapsed, _count = measure(bench, reps)
        if elapsed >= target * 0.7:
            break
        grow = target / max(elapsed, 1e-6)
        reps = max(reps + 1, min(int(reps * grow), reps * 1000))
    return reps


def run_interleaved(
    benches: "dict[str, Bench]",
    messages_per_rep: int,
    rounds: int,
    target: float,
) -> "dict[str, list[float]]":
    """Messages per second of each implementation, one measurement per round each.

    Each round runs every implementation once, starting with a different one each
    round, so slow drifts of a shared machine hit all of them alike. Asserts that each
    measurement handled exactly the number of messages the stream holds.
    """
    names = list(benches)
    reps = {name: calibrate(benches[name], target) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            elapsed, count = measure(benches[name], reps[name])
            expected = reps[name] * messages_per_rep
            assert count == expected, "%s handled %d messages, expected %d" % (
                name,
                count,
                expected,
            )
            rates[name].append(count / elapsed)
    return rates


def median(values: "list[float]") -> float:
    return statistics.median(values)


def spread(values: "list[float]") -> float:
    """(max - min) / median: how noisy a set of rounds was."""
    return (max(values) - min(values)) / statistics.median(values)


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e4:
        return "%.0fk" % (x / 1e3)
    if x >= 1e3:
        return "%.1fk" % (x / 1e3)
    return "%.1f" % x


def print_table(header: "list[str]", rows: "list[list[str]]") -> None:
    """A Markdown table with padded columns (pastes into README.md as is)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: "list[str]") -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
