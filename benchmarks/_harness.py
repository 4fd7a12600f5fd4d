"""Timing and test-data helpers for the benchmarks; no implementation under test is imported.

Frames are built here, independently of wsproto_lite's encoder, so every implementation
parses the same bytes whoever's encoder is being optimised. Timing runs every
implementation in the same process, interleaved round by round, and compares medians.
"""

import gc
import random
import statistics
import struct
import time
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


def xor_mask(data: bytes, key: bytes) -> bytes:
    """XOR data with a repeating 4-byte key (RFC 6455 §5.3)."""
    n = len(data)
    pad = key * (n // 4) + key[: n % 4]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def build_frame(opcode: int, payload: bytes, fin: bool = True, key: "bytes | None" = None) -> bytes:
    """One frame with a minimal length field; masked with `key` when given."""
    b0 = (0x80 if fin else 0) | opcode
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
