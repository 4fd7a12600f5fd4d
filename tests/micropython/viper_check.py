"""On MicroPython with viper: wsproto_lite._viper gives what frames.py's pure twins give.

    micropython -X heapsize=64M tests/micropython/viper_check.py [--path DIR] [--seed N]

Run by tests/test_micropython_viper.py on the unix port. Checks that frames picked the
accelerator (SPEEDUPS, frames.mask is _viper.mask, ...); that mask, mask_append, Builder
and encode agree with _pure_mask, _pure_mask_append, _PureBuilder and _pure_encode on
random payloads of many lengths (0 to 2**20 + 3), key offsets, alignments and bytes /
bytearray / memoryview inputs, including data that is dest or a view of it; that the
viper loop never writes outside its range; and that bad inputs are refused with the same
exception type, leaving dest as the pure path leaves it. `--path DIR` puts DIR first on
sys.path instead of the repository root (a tree of .mpy files from compile.py --out).
Prints one line per failure and a summary; exits 1 on any mismatch, 2 if viper is absent.
"""

import random
import sys

_here = __file__.rpartition("/")[0] or "."
ROOT = _here + "/../.."

LENGTHS = (0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 125, 126, 127, 128)
LENGTHS += (129, 255, 256, 1000, 1023, 1024, 1025, 4099, 65535, 65536, 65537, 2**20 + 3)
OFFSETS = (0, 1, 2, 3, 4, 5, 6, 7, -1, -6, 2**70 + 1)
BIG = 4099  # lengths above this are checked with fewer variations (the pure path is slow)


class Check:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def fail(self, what, got=None, want=None):
        self.failed += 1
        if self.failed <= 30:  # formatted only when printed: reprs of 1 MiB are slow
            if got is not None or want is not None:
                what = "%s: viper %s, pure %s" % (what, short(got), short(want))
            print("MISMATCH", what)

    def equal(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.fail(what, got, want)


def short(value):
    if type(value) in (bytes, bytearray) and len(value) > 40:
        return "%s of %d bytes, starting %r" % (type(value).__name__, len(value), value[:16])
    text = repr(value)
    return text if len(text) < 80 else text[:60] + "... (%d chars)" % len(text)


def outcome(fn, args):
    # ("ok", result) or ("raise", exception type name): what a call did.
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("raise", type(exc).__name__)


def random_bytes(n):
    getrandbits = random.getrandbits
    if n <= BIG:
        return bytes(getrandbits(8) for _ in range(n))
    chunk = random_bytes(BIG)
    out = bytearray()
    while len(out) < n:  # rotations of one random chunk: every key lane sees every byte
        cut = getrandbits(12)
        out += chunk[cut:] + chunk[:cut]
    return bytes(out[:n])


def views(data, big):
    # The payload as bytes, bytearray and a memoryview at each alignment (0-3 bytes in).
    yield "bytes", data
    yield "bytearray", bytearray(data)
    for pad in (0, 1, 2, 3)[: 1 if big else 4]:
        yield "memoryview+%d" % pad, memoryview(bytearray(pad) + data)[pad:]


def keys():
    key = random_bytes(4)
    yield key
    yield bytearray(key)
    yield memoryview(b"xy" + key)[2:]


def check_mask(check, pure, viper, n):
    data = random_bytes(n)
    big = n > BIG
    for kind, payload in views(data, big):
        for key in keys():
            for offset in OFFSETS[:3] if big else OFFSETS:
                what = "mask(%s %d B, %s key, offset %d)" % (kind, n, type(key).__name__, offset)
                check.equal(what, viper(payload, key, offset), pure(payload, key, offset))
            if big:
                break


def check_encode(check, pure, viper, n):
    data = random_bytes(n)
    big = n > BIG
    for kind, payload in views(data, big):
        for key in (None,) + tuple(keys()):
            b0 = random.getrandbits(8)
            what = "encode(%d, %s %d B, %s)" % (b0, kind, n, type(key).__name__)
            check.equal(what, viper(b0, payload, key), pure(b0, payload, key))
            if big and key is not None:
                break


def check_mask_append(check, pure, viper, n):
    data = random_bytes(n)
    big = n > BIG
    key = random_bytes(4)
    for prefix in (0, 1, 2, 3, 7)[: 2 if big else 5]:
        head = random_bytes(prefix)
        for kind, payload in views(data, big):
            for offset in OFFSETS[:2] if big else OFFSETS[:8]:
                a = bytearray(head)
                b = bytearray(head)
                pure(a, payload, key, offset)
                viper(b, payload, key, offset)
                what = "mask_append(%d B dest, %s %d B, offset %d)" % (prefix, kind, n, offset)
                check.equal(what, b, a)
    if big:
        return
    # data is dest itself, or a view of it (the buffer may move as dest grows).
    for offset in (0, 1, 3):
        a = bytearray(data)
        b = bytearray(data)
        pure(a, a, key, offset)
        viper(b, b, key, offset)
        check.equal("mask_append(dest, dest %d B, offset %d)" % (n, offset), b, a)
        a = bytearray(data)
        b = bytearray(data)
        pure(a, memoryview(a)[1:], key, offset)
        viper(b, memoryview(b)[1:], key, offset)
        check.equal("mask_append(dest, view of dest %d B, offset %d)" % (n, offset), b, a)


def check_builder(check, pure_cls, viper_cls, n):
    # The same appends (plain, masked at any offset, any buffer type) give the same bytes.
    data = random_bytes(n)
    big = n > BIG
    a = pure_cls()
    b = viper_cls()
    for kind, payload in views(data, big):
        for key in (None, random_bytes(4)):
            offset = random.getrandbits(3)
            a.append(payload, key, offset)
            b.append(payload, key, offset)
            check.equal("Builder.append(%s %d B) len" % (kind, n), len(b), len(a))
    check.equal("Builder.take() after %d B appends" % n, b.take(), a.take())
    check.equal("Builder.take() again", b.take(), a.take())
    for args in ((123,), (None,), (b"data", b"abc"), (b"data", 1234), (b"data", b"abcd", 1.5)):
        check.equal(
            "Builder.append%s" % short(args),
            outcome(b.append, args),
            outcome(a.append, args),
        )
        check.equal("Builder after a refused append", len(b), len(a))


def check_xor_bounds(check, xor):
    # The loop writes exactly buf[start:end], at every alignment, start and end.
    key = b"\x37\xfa\x21\x3d"
    for pad in range(4):
        for start in range(0, 14):
            for end in range(start, 26):
                buf = bytearray(b"\xaa" * (pad + 30))
                view = memoryview(buf)[pad : pad + 26]
                xor(view, start, end, key)
                want = bytearray(b"\xaa" * (pad + 30))
                for i in range(start, end):
                    want[pad + i] ^= key[(i - start) & 3]
                if buf == want:
                    check.passed += 1
                else:
                    check.fail("_xor(pad %d, %d, %d) wrote %r" % (pad, start, end, bytes(buf)))


BAD_MASK = (
    (123, b"abcd", 0),
    (None, b"abcd", 0),
    ([1, 2], b"abcd", 0),
    ("text", b"abcd", 0),
    (b"data", b"abc", 0),
    (b"data", b"abcde", 0),
    (b"data", b"", 0),
    (b"data", 1234, 0),
    (b"data", None, 0),
    (b"data", "abcd", 0),
    (b"data", [1, 2, 3, 4], 0),
    (b"data", b"abcd", 1.5),
    (b"data", b"abcd", None),
    (b"data", b"abcd", "1"),
    (b"x" * 300, b"abc", 0),
    (123, b"abc", 0),
)
BAD_ENCODE = (
    (-1, b"data", None),
    (256, b"data", None),
    (256, b"data", b"abcd"),
    ("x", b"data", None),
    (None, b"data", None),
    (1.5, b"data", None),
    (0x81, 123, None),
    (0x81, None, None),
    (0x81, 123, b"abcd"),
    (0x81, b"data", b"abc"),
    (0x81, b"data", 1234),
    (0x81, b"data", "abcd"),
    (0x81, b"x" * 300, b"abcde"),
    (0x81, "text", b"abcd"),
    (0x81, "text", None),
)


def same_refusals(check, name, viper, pure, cases):
    # Each case through both: the same result or exception type, and the same dest after.
    for args in cases:
        mine = [bytearray(args[0]) if type(args[0]) is bytearray else args[0]]
        theirs = [bytearray(args[0]) if type(args[0]) is bytearray else args[0]]
        got = outcome(viper, mine + list(args[1:]))
        want = outcome(pure, theirs + list(args[1:]))
        what = "%s%s" % (name, short(args))
        check.equal(what, got, want)
        check.equal(what + ": dest after", mine[0], theirs[0])


def check_refusals(check, frames, viper):
    same_refusals(check, "mask", viper.mask, frames._pure_mask, BAD_MASK)
    same_refusals(check, "encode", viper.encode, frames._pure_encode, BAD_ENCODE)
    dests = (bytes(4), memoryview(bytearray(4)), [0], None, "abcd")
    cases = [(d, b"data", b"abcd", 0) for d in dests]
    cases += [(None, 123, b"abc", 0)]  # a bad dest is refused before bad data or key
    cases += [(bytearray(3),) + args for args in BAD_MASK]
    same_refusals(check, "mask_append", viper.mask_append, frames._pure_mask_append, cases)


def main(argv):
    path = ROOT
    seed = 1
    if "--path" in argv:
        path = argv[argv.index("--path") + 1]
    if "--seed" in argv:
        seed = int(argv[argv.index("--seed") + 1])
    sys.path.insert(0, path)
    random.seed(seed)
    from wsproto_lite import frames

    try:
        from wsproto_lite import _viper
    except Exception as exc:
        print("viper_check: wsproto_lite._viper does not import here: %r" % exc)
        return 2
    check = Check()
    print(
        "viper_check: MicroPython %s, _viper from %s, seed %d"
        % (
            ".".join(str(v) for v in sys.implementation.version[:3]),
            getattr(_viper, "__file__", "?"),
            seed,
        )
    )
    check.equal("frames.SPEEDUPS", frames.SPEEDUPS, True)
    check.equal("frames.mask is _viper.mask", frames.mask is _viper.mask, True)
    check.equal("frames._encode is _viper.encode", frames._encode is _viper.encode, True)
    check.equal(
        "frames.mask_append is _viper.mask_append", frames.mask_append is _viper.mask_append, True
    )
    check.equal("frames.Builder is _viper.Builder", frames.Builder is _viper.Builder, True)

    check_xor_bounds(check, _viper._xor)
    for n in LENGTHS:
        check_mask(check, frames._pure_mask, _viper.mask, n)
        check_encode(check, frames._pure_encode, _viper.encode, n)
        check_mask_append(check, frames._pure_mask_append, _viper.mask_append, n)
        check_builder(check, frames._PureBuilder, _viper.Builder, n)
    check_refusals(check, frames, _viper)
    print("viper_check: %d passed, %d failed" % (check.passed, check.failed))
    return 1 if check.failed else 0


sys.exit(main(sys.argv[1:]))
