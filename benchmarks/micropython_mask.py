"""Masking on MicroPython: the viper accelerator (wsproto_lite/_viper.py) against pure Python.

    micropython benchmarks/micropython_mask.py [--quick] [--rounds N]

Runs under MicroPython (the unix port: `bash ../shared/micropython/build-unix.sh` prints
the folder of its `micropython`), not CPython. Times `frames._pure_mask` and `_viper.mask`
(what frames.mask is where viper loads) on 16 B, 1 KiB, 16 KiB and 64 KiB payloads, the
two interleaved round by round, and prints us per KiB masked (median of the rounds) and
pure/viper (above 1.00x: viper is faster). "in place" is the viper loop alone on a buffer
it reuses (what mask_append costs beyond its copy): mask() allocates a bytearray and the
bytes it returns, and on the unix port's large heap those allocations, not the XOR,
are most of its time from 1 KiB up (the heap size is printed; -X heapsize=N sets it).
A second table is why _viper has no big-int path for short payloads: frames' short
XOR (one multiplication, as _mask_small) against the viper loop alone (`_viper._masked`),
both without argument checks, per call.
Both results are compared once before timing. Exits 2 when not on MicroPython with viper.
"""

import gc
import sys

try:
    from time import ticks_diff, ticks_us
except ImportError:
    ticks_diff = ticks_us = None

# The repository root on the path, wherever this is run from.
_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")

KEY = b"\x37\xfa\x21\x3d"
SIZES = (16, 1024, 16 * 1024, 64 * 1024)
SMALL_SIZES = (8, 16, 24, 32, 48, 64, 128, 256)
ROUND_BYTES = 1 << 20  # bytes masked per round and size (per call: at least one call)


def payload(n):
    return bytes((i * 7 + 3) & 255 for i in range(n))


def time_us(fn, data, calls):
    # Microseconds for `calls` calls of fn(data, KEY), after a collection.
    gc.collect()
    start = ticks_us()
    for _ in range(calls):
        fn(data, KEY)
    return ticks_diff(ticks_us(), start)


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def compare(fns, sizes, rounds, round_bytes):
    # [(size, [median us per call of each fn])]; the fns alternate within every round.
    result = []
    for n in sizes:
        data = payload(n)
        calls = round_bytes // n or 1
        times = [[] for _ in fns]
        for r in range(rounds):
            order = range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)
            for i in order:
                times[i].append(time_us(fns[i], data, calls) / calls)
        result.append((n, [median(t) for t in times]))
    return result


def size_name(n):
    return "%d KiB" % (n // 1024) if n >= 1024 else "%d B" % n


def main(argv):
    rounds = 7
    round_bytes = ROUND_BYTES
    if "--quick" in argv:
        rounds = 3
        round_bytes = 1 << 16
    if "--rounds" in argv:
        rounds = int(argv[argv.index("--rounds") + 1])
    if ticks_us is None or sys.implementation.name != "micropython":
        print("micropython_mask.py: run it with MicroPython (the unix port), not", sys.version)
        return 2
    from wsproto_lite import frames

    try:
        from wsproto_lite import _viper
    except Exception as exc:
        print("micropython_mask.py: wsproto_lite._viper does not load here:", repr(exc))
        return 2
    pure = frames._pure_mask
    viper = _viper.mask
    loop = _viper._masked
    xor = _viper._xor
    rep = [(1 << (32 * w)) // 0xFFFFFFFF for w in range((SMALL_SIZES[-1] >> 2) + 2)]

    def big_int(data, k):
        # frames._mask_small with the key as bytes, without the argument checks.
        n = len(data)
        words = (n + 3) >> 2
        x = int.from_bytes(data, "little") ^ (int.from_bytes(k, "little") * rep[words])
        return x.to_bytes(words << 2, "little")[:n]

    for n in SIZES + SMALL_SIZES:
        data = payload(n)
        if n in SMALL_SIZES and big_int(data, KEY) != pure(data, KEY):
            print("micropython_mask.py: big_int and pure disagree at %d bytes" % n)
            return 1
        if not pure(data, KEY) == viper(data, KEY) == loop(data, KEY):
            print("micropython_mask.py: viper and pure disagree at %d bytes" % n)
            return 1

    print(
        "MicroPython %s (%s), frames.SPEEDUPS=%s, frames.mask is _viper.mask: %s"
        % (
            ".".join(str(v) for v in sys.implementation.version[:3]),
            sys.platform,
            frames.SPEEDUPS,
            frames.mask is viper,
        )
    )
    heap = (gc.mem_free() + gc.mem_alloc()) // 1024
    print(
        "median of %d interleaved rounds, %d KiB masked per round and size, %d KiB heap"
        % (rounds, round_bytes // 1024, heap)
    )
    print()
    columns = ("payload", "pure us/KiB", "viper us/KiB", "in place us/KiB")
    columns += ("pure us/call", "viper us/call", "pure/viper")
    print("| %s |" % " | ".join(columns))
    print("|%s|" % "|".join("-" * (len(c) + 2) for c in columns))
    for n in SIZES:
        buf = bytearray(n)

        def in_place(data, key, buf=buf, n=n):
            # The viper loop alone on a buffer it reuses: masking without allocation.
            xor(buf, 0, n, key)

        ((_, (p, v, i)),) = compare((pure, viper, in_place), (n,), rounds, round_bytes)
        per_kib = 1024 / n
        print(
            "| %-7s | %11.2f | %12.2f | %15.2f | %12.2f | %13.2f | %9.2fx |"
            % (size_name(n), p * per_kib, v * per_kib, i * per_kib, p, v, p / v)
        )
    print()
    print("short payloads: big-int XOR (frames._mask_small) against the viper loop alone")
    print()
    print("| payload | big-int us/call | viper loop us/call | big-int/loop |")
    print("|---------|-----------------|--------------------|--------------|")
    small = compare((big_int, loop), SMALL_SIZES, rounds, round_bytes // 16)
    for n, (p, v) in small:
        print("| %-7s | %15.2f | %18.2f | %11.2fx |" % (size_name(n), p, v, p / v))
    return 0


sys.exit(main(sys.argv[1:]))
