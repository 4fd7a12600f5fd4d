"""The compiled accelerator (wsproto_lite/_speedups.c) and the pure path: same bytes, same refusals.

Function level: _speedups.mask/mask_append/encode/Builder against frames.py's pure twins and
a naive per-byte reference, for every payload length that changes a code path, every key
offset, every kind of buffer, and every input either must refuse. Connection level: the
accelerated wsproto_lite and a second copy of the package on the pure path
(fuzz/pure_core.load_pure) get the same bytes (the fuzz corpus, then Hypothesis frame
streams in random chunkings) and must give the same events, byte for byte, and the same
bytes out. The one known divergence (keyword arguments) is a strict xfail.
"""

import array
import enum
import os
import random
import re
import subprocess
import sys
import types
import zlib
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from wsproto_lite import _speedups
except ImportError as exc:
    if os.environ.get("CI") == "true":  # the CI machine has a compiler: a missing build is a bug
        pytest.fail("wsproto_lite._speedups did not build under CI: %s" % exc, pytrace=False)
    pytest.skip(
        "wsproto_lite._speedups is not built (no compiler at install): %s" % exc,
        allow_module_level=True,
    )

import wsproto_lite as accel  # noqa: E402
from fuzz import deflate_oracle, formats, oracles  # noqa: E402
from fuzz.deflate_oracle import DEFLATE_LIMITS  # noqa: E402
from fuzz.pure_core import load_pure  # noqa: E402
from wsproto_lite import frames  # noqa: E402

pure = load_pure()
PURE_FRAMES = pure.frames

KEY = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's key: an all-zero key would hide masking bugs
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1
CORPUS = ROOT / "fuzz" / "corpus"

# Every length where a path changes: the 8- and 16-byte C loops and their tails, the
# pure path's _SMALL (128) big-int and _TABLE_MIN (1024) translate thresholds, and the
# sizes the issue names.
LENGTHS = (0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025)
LENGTHS += (2**16, 2**20 + 3)
OFFSETS = tuple(range(8)) + (2**64 + 5, -1, -6, -(2**70) - 3)

# The wsproto_lite copy on the accelerated path; under WSPROTO_LITE_NO_SPEEDUPS (the pure
# nox session) both copies are pure and the connection-level comparisons say nothing.
needs_accelerated_copy = pytest.mark.skipif(
    not frames.SPEEDUPS,
    reason="WSPROTO_LITE_NO_SPEEDUPS is set: wsproto_lite itself runs the pure path",
)


def payload(n: int) -> bytes:
    """n reproducible, non-repeating bytes (a repeating pattern could hide a key-phase bug)."""
    return random.Random(n).randbytes(n)


@lru_cache(maxsize=64)  # the big payloads' references, once per key phase
def naive_mask(data: bytes, key: bytes, phase: int) -> bytes:
    """RFC 6455 §5.3, byte by byte: shares no code with either path."""
    return bytes(b ^ key[(i + phase) % 4] for i, b in enumerate(data))


def reference_frame(b0: int, data: bytes, key: "bytes | None") -> bytes:
    """RFC 6455 §5.2 by hand: b0, the minimal length, the key, the payload."""
    n = len(data)
    m = 0x80 if key is not None else 0
    if n < 126:
        head = bytes((b0, m | n))
    elif n < 65536:
        head = bytes((b0, m | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, m | 127)) + n.to_bytes(8, "big")
    if key is None:
        return head + data
    return head + key + naive_mask(data, key, 0)


# Each buffer kind holds exactly `raw`, as a different object type or memory layout.
def _odd_slice(raw: bytes) -> memoryview:
    return memoryview(bytearray(b"<" + raw + b">"))[1:-1]  # starts 1 byte into its buffer


def _strided(raw: bytes) -> memoryview:
    spread = bytearray(2 * len(raw))
    spread[::2] = raw
    spread[1::2] = b"\xaa" * len(raw)  # what a read past the stride would pick up
    return memoryview(spread)[::2]


BUFFERS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": memoryview,
    "odd-slice": _odd_slice,
    "strided": _strided,
    "array-B": lambda raw: array.array("B", raw),
}


def outcome(fn, *args, **kwargs):
    """("ok", result) or ("raised", exception type): what a path did with these arguments."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # the comparison is the assertion: both must raise alike
        return ("raised", type(exc))


def append_outcome(fn, dest_factory, *args, **kwargs):
    """mask_append's outcome: what it returned or raised, and dest afterwards."""
    dest = dest_factory()
    result = outcome(fn, dest, *args, **kwargs)
    return result, bytes(dest)


# -- function level: every length, offset and buffer kind ---------------------------------


@pytest.mark.parametrize("kind", list(BUFFERS))
@pytest.mark.parametrize("n", LENGTHS)
def test_mask_gives_the_reference_bytes_on_both_paths(n, kind):
    raw = payload(n)
    data = BUFFERS[kind](raw)
    for offset in OFFSETS:
        want = naive_mask(raw, KEY, offset % 4)
        got_c = _speedups.mask(data, KEY, offset)
        got_pure = frames._pure_mask(data, KEY, offset)
        assert type(got_c) is bytes and type(got_pure) is bytes
        assert got_c == want, "C, length %d, offset %d" % (n, offset)
        assert got_pure == want, "pure, length %d, offset %d" % (n, offset)
    assert bytes(data) == raw  # the input is never modified
    assert _speedups.mask(data, KEY) == frames._pure_mask(data, KEY) == naive_mask(raw, KEY, 0)


def _append_cases():
    for n in LENGTHS:
        for kind in BUFFERS:
            yield pytest.param(n, kind, id="%d-%s" % (n, kind))


@pytest.mark.parametrize(("n", "kind"), list(_append_cases()))
def test_mask_append_extends_dest_with_the_reference_bytes_on_both_paths(n, kind):
    raw = payload(n)
    data = BUFFERS[kind](raw)
    for offset in (0, 1, 2, 3, 7, -1, 2**64 + 5):
        want = b"head" + naive_mask(raw, KEY, offset % 4)
        for fn in (_speedups.mask_append, frames._pure_mask_append):
            dest = bytearray(b"head")
            assert fn(dest, data, KEY, offset) is None
            assert dest == want, "%s, length %d, offset %d" % (fn.__name__, n, offset)
    assert bytes(data) == raw


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "odd-slice", "array-B"])
@pytest.mark.parametrize("n", (0, 1, 5, 125, 126, 127, 1024, 65535, 65536, 65537))
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_encode_gives_the_reference_frame_on_both_paths(n, kind, masked):
    raw = payload(n)
    data = BUFFERS[kind](raw)
    key = KEY if masked else None
    for b0 in (0, 0x01, 0x82, 0x89, 0x7F, 255):
        want = reference_frame(b0, raw, key)
        assert _speedups.encode(b0, data, key) == want, "C, b0 %d, length %d" % (b0, n)
        assert frames._pure_encode(b0, data, key) == want, "pure, b0 %d, length %d" % (b0, n)
    assert bytes(data) == raw
    if not masked:  # two arguments mean unmasked, on both
        want = reference_frame(0x82, raw, None)
        assert _speedups.encode(0x82, data) == frames._pure_encode(0x82, data) == want


@pytest.mark.parametrize("n", (0, 3, 125, 126, 65535, 65536))
def test_encode_agrees_with_build_frame(n):
    # build_frame is the fuzzers' frame builder: any fin/rsv/opcode byte, the minimal length.
    raw = payload(n)
    for fin, rsv, opcode in ((True, 0, 1), (False, 0, 2), (True, 4, 0), (True, 7, 15)):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        for key in (None, KEY):
            want = PURE_FRAMES.build_frame(opcode, raw, fin, rsv, key)
            assert _speedups.encode(b0, raw, key) == want
            assert frames._pure_encode(b0, raw, key) == want


# -- function level: refusals ------------------------------------------------------------

NOT_BUFFERS = ["text", 5, [1, 2, 3], None, 1.5, object()]
BAD_KEYS = [
    (b"", ValueError),
    (b"abc", ValueError),
    (b"abcde", ValueError),
    (bytearray(3), ValueError),
    ("abcd", TypeError),
    (None, TypeError),
    (1234, TypeError),
]
BAD_OFFSETS = [1.5, "1", None, b"\x01"]


def _ids(values):
    return [type(v).__name__ + ":" + repr(v)[:12] for v in values]


@pytest.mark.parametrize("data", NOT_BUFFERS, ids=_ids(NOT_BUFFERS))
def test_non_buffer_data_is_refused_with_typeerror_on_both_paths(data):
    for n_calls, (c_fn, pure_fn, args) in enumerate(
        (
            (_speedups.mask, frames._pure_mask, (data, KEY)),
            (_speedups.mask, frames._pure_mask, (data, KEY, 3)),
            (_speedups.encode, frames._pure_encode, (0x82, data, KEY)),
            (_speedups.encode, frames._pure_encode, (0x82, data)),
        )
    ):
        assert outcome(c_fn, *args) == ("raised", TypeError), (n_calls, args)
        assert outcome(pure_fn, *args) == ("raised", TypeError), (n_calls, args)
    for fn in (_speedups.mask_append, frames._pure_mask_append):
        assert append_outcome(fn, bytearray, data, KEY) == (("raised", TypeError), b"")


@pytest.mark.parametrize(("key", "error"), BAD_KEYS, ids=_ids([k for k, _ in BAD_KEYS]))
def test_bad_key_is_refused_alike_on_both_paths(key, error):
    for data in (b"", b"abc", payload(200), payload(2000)):
        for c_fn, pure_fn, args in (
            (_speedups.mask, frames._pure_mask, (data, key)),
            (_speedups.mask, frames._pure_mask, (data, key, 1)),
            (_speedups.encode, frames._pure_encode, (0x82, data, key)),
        ):
            if key is None and c_fn is _speedups.encode:
                continue  # None is "unmasked" there
            assert outcome(c_fn, *args) == ("raised", error)
            assert outcome(pure_fn, *args) == ("raised", error)
        for fn in (_speedups.mask_append, frames._pure_mask_append):
            # Refused before dest grows.
            got = append_outcome(fn, lambda: bytearray(b"head"), data, key)
            assert got == (("raised", error), b"head")


@pytest.mark.parametrize("offset", BAD_OFFSETS, ids=_ids(BAD_OFFSETS))
def test_non_int_offset_is_refused_with_typeerror_on_both_paths(offset):
    for data in (b"", b"abc", payload(2000)):
        assert outcome(_speedups.mask, data, KEY, offset) == ("raised", TypeError)
        assert outcome(frames._pure_mask, data, KEY, offset) == ("raised", TypeError)
        for fn in (_speedups.mask_append, frames._pure_mask_append):
            got = append_outcome(fn, lambda: bytearray(b"head"), data, KEY, offset)
            assert got == (("raised", TypeError), b"head")


def test_bool_offset_counts_as_an_int_on_both_paths():
    assert _speedups.mask(b"abcdef", KEY, True) == frames._pure_mask(b"abcdef", KEY, True)
    assert _speedups.mask(b"abcdef", KEY, True) == naive_mask(b"abcdef", KEY, 1)


@pytest.mark.parametrize(
    ("b0", "error"),
    [(-1, ValueError), (256, ValueError), (1 << 20, ValueError), (1.0, TypeError)]
    + [("1", TypeError), (None, TypeError)],
)
def test_encode_refuses_a_b0_that_is_not_a_byte_alike(b0, error):
    for key in (None, KEY):
        assert outcome(_speedups.encode, b0, b"abc", key) == ("raised", error)
        assert outcome(frames._pure_encode, b0, b"abc", key) == ("raised", error)


def test_encode_takes_a_bool_b0_as_its_int_on_both_paths():
    assert _speedups.encode(True, b"x") == frames._pure_encode(True, b"x") == b"\x01\x01x"


@pytest.mark.parametrize("dest", [b"head", memoryview(bytearray(b"head")), "head", None, [1]])
def test_mask_append_onto_anything_but_a_bytearray_is_a_typeerror(dest):
    for fn in (_speedups.mask_append, frames._pure_mask_append):
        assert outcome(fn, dest, b"abc", KEY) == ("raised", TypeError)
    if isinstance(dest, memoryview):
        assert bytes(dest) == b"head"


@pytest.mark.parametrize("n", (1, 5, 129, 1024, 5000))
def test_mask_append_onto_an_exported_bytearray_is_a_buffererror_on_both_paths(n):
    # Resizing a bytearray that a memoryview holds would leave the view dangling.
    for fn in (_speedups.mask_append, frames._pure_mask_append):
        dest = bytearray(b"head")
        view = memoryview(dest)
        assert outcome(fn, dest, payload(n), KEY) == ("raised", BufferError)
        assert dest == b"head" and bytes(view) == b"head"
        view.release()
        fn(dest, payload(n), KEY)  # once the view is gone it grows again
        assert dest == b"head" + naive_mask(payload(n), KEY, 0)


def test_mask_append_of_nothing_onto_an_exported_bytearray_succeeds_on_both_paths():
    # No resize is needed, so the export does not matter (as for `dest += b""`).
    for fn in (_speedups.mask_append, frames._pure_mask_append):
        dest = bytearray(b"head")
        with memoryview(dest):
            assert outcome(fn, dest, b"", KEY) == ("ok", None)
        assert dest == b"head"


def test_mask_append_of_a_view_of_dest_itself_is_a_buffererror_on_both_paths():
    for n in (4, 2000):
        for fn in (_speedups.mask_append, frames._pure_mask_append):
            dest = bytearray(payload(n))
            with memoryview(dest) as view:
                assert outcome(fn, dest, view, KEY) == ("raised", BufferError)
            assert dest == payload(n)


def test_released_memoryview_is_refused_alike():
    view = memoryview(b"abcd")
    view.release()
    assert outcome(_speedups.mask, view, KEY) == outcome(frames._pure_mask, view, KEY)
    assert outcome(_speedups.mask, view, KEY)[0] == "raised"


def test_wrong_argument_counts_are_typeerrors_on_both_paths():
    for c_fn, pure_fn, args in (
        (_speedups.mask, frames._pure_mask, (b"ab",)),
        (_speedups.mask, frames._pure_mask, (b"ab", KEY, 0, 0)),
        (_speedups.encode, frames._pure_encode, (0x82,)),
        (_speedups.encode, frames._pure_encode, (0x82, b"", KEY, 0)),
        (_speedups.mask_append, frames._pure_mask_append, (bytearray(), b"ab")),
    ):
        assert outcome(c_fn, *args) == outcome(pure_fn, *args) == ("raised", TypeError)


# -- function level: inputs where the paths once differed -----------------------------------
# Each case below was a divergence when this file was written (the text says what each path
# did); both paths now give the same bytes or the same exception type. Only calling with
# keywords still differs: the C functions are positional-only (as _speedups.pyi says).


def _same(c_fn, pure_fn, *args, dest=None):
    """Both paths' outcomes, compared by result bytes or exception type (and dest after)."""
    if dest is not None:
        return append_outcome(c_fn, dest, *args) == append_outcome(pure_fn, dest, *args)
    return outcome(c_fn, *args) == outcome(pure_fn, *args)


MASKS = (_speedups.mask, frames._pure_mask)
APPENDS = (_speedups.mask_append, frames._pure_mask_append)
ENCODES = (_speedups.encode, frames._pure_encode)


def _agreement(name, was, check):
    """A case where the paths once differed (`was` says how); they must agree now."""
    return pytest.param(check, id=name)


def _divergence(name, reason, check):
    return pytest.param(check, id=name, marks=pytest.mark.xfail(strict=True, reason=reason))


DIVERGENCES = [
    _agreement(
        "mask-multibyte-items",
        "pure len() counts items, not bytes: mask(array('H', [1, 2, 3]), key) is OverflowError "
        "on the pure path (below 1024 items), the right 6 bytes in C",
        lambda: _same(*MASKS, array.array("H", [1, 2, 3]), KEY),
    ),
    _agreement(
        "mask-cast-memoryview",
        "pure len() counts items: mask(memoryview(b'abcdefgh').cast('I'), key) is "
        "OverflowError on the pure path, 8 masked bytes in C",
        lambda: _same(*MASKS, memoryview(b"abcdefgh").cast("I"), KEY),
    ),
    _agreement(
        "mask-append-multibyte-items",
        "pure mask_append(dest, array('H', range(600)), key) is OverflowError, C appends "
        "1200 bytes",
        lambda: _same(*APPENDS, array.array("H", range(600)), KEY, dest=bytearray),
    ),
    _agreement(
        "encode-multibyte-items",
        "pure encode(1, array('H', [1, 2])) announces 2 bytes and sends 4 (a broken frame); "
        "C announces 4",
        lambda: _same(*ENCODES, 1, array.array("H", [1, 2])),
    ),
    _agreement(
        "encode-multibyte-items-masked",
        "pure encode(1, array('H', [1, 2]), key) announces and masks 2 of the 4 bytes",
        lambda: _same(*ENCODES, 1, array.array("H", [1, 2]), KEY),
    ),
    _agreement(
        "encode-unmasked-strided",
        "pure encode(b0, memoryview(...)[::2]) without a key is TypeError (bytes + a "
        "non-contiguous view); C copies it and encodes",
        lambda: _same(*ENCODES, 0x82, memoryview(b"abcdef")[::2]),
    ),
    _agreement(
        "strided-key",
        "a non-contiguous key (memoryview(b'aabbccdd')[::2]) is TypeError in C "
        "(PyBUF_SIMPLE), accepted by the pure path's bytes(memoryview(key))",
        lambda: _same(*MASKS, b"abc", memoryview(b"aabbccdd")[::2]),
    ),
    _agreement(
        "mask-check-order",
        "mask(b'ab', b'abc', 1.5): C checks the offset first (TypeError), pure the key "
        "first (ValueError)",
        lambda: _same(*MASKS, b"ab", b"abc", 1.5),
    ),
    _agreement(
        "mask-append-check-order",
        "mask_append(bytearray(), 'text', b'abc'): C checks the key first (ValueError), "
        "pure the data first (TypeError) below 1024 bytes",
        lambda: _same(*APPENDS, "text", b"abc", dest=bytearray),
    ),
    _agreement(
        "encode-huge-b0",
        "encode(2**70, b'') is OverflowError in C (PyLong_AsLong), ValueError on the pure path",
        lambda: _same(*ENCODES, 2**70, b""),
    ),
    _agreement(
        "mask-append-onto-itself",
        "mask_append(d, d, key) with a small bytearray d: C is BufferError (d exports "
        "itself while resized), the pure path appends a masked copy",
        lambda: _self_append_same(4),
    ),
    _agreement(
        "mask-append-bytearray-subclass",
        "mask_append onto a bytearray subclass: C accepts it (PyByteArray_Check), the pure "
        "path is TypeError (type(dest) is not bytearray)",
        lambda: _same(*APPENDS, b"ab", KEY, dest=lambda: type("Sub", (bytearray,), {})()),
    ),
    _divergence(
        "keyword-arguments",
        "mask(data, key, offset=1) and encode(b0, payload, key=k): C is TypeError "
        "(positional only, as _speedups.pyi says), the pure twins accept keywords",
        lambda: (
            outcome(_speedups.mask, b"abcd", KEY, offset=1)
            == outcome(frames._pure_mask, b"abcd", KEY, offset=1)
            and outcome(_speedups.encode, 0x82, b"abcd", key=KEY)
            == outcome(frames._pure_encode, 0x82, b"abcd", key=KEY)
        ),
    ),
]


def _self_append_same(n):
    results = []
    for fn in APPENDS:
        dest = bytearray(payload(n))
        results.append((outcome(fn, dest, dest, KEY), bytes(dest)))
    return results[0] == results[1]


@pytest.mark.parametrize("check", DIVERGENCES)
def test_inputs_that_once_diverged_agree_now(check):
    assert check()


# -- function level: property tests -----------------------------------------------------

keys = st.binary(min_size=4, max_size=4)
offsets = st.integers(-(2**70), 2**70) | st.integers(0, 7)
buffer_kinds = st.sampled_from(list(BUFFERS))


@given(st.binary(max_size=3000), keys, offsets, buffer_kinds)
def test_any_data_key_offset_masks_alike(raw, key, offset, kind):
    data = BUFFERS[kind](raw)
    want = naive_mask(raw, key, offset % 4)
    assert _speedups.mask(data, key, offset) == want
    assert frames._pure_mask(data, key, offset) == want
    assert bytes(data) == raw


@given(st.binary(max_size=40), st.binary(max_size=3000), keys, offsets, buffer_kinds)
def test_any_append_masks_alike(head, raw, key, offset, kind):
    data = BUFFERS[kind](raw)
    want = head + naive_mask(raw, key, offset % 4)
    fns = [_speedups.mask_append, frames._pure_mask_append]
    if kind == "strided" and len(raw) >= 1024:
        fns.pop()  # the known divergence STRIDED_APPEND marks
    for fn in fns:
        dest = bytearray(head)
        fn(dest, data, key, offset)
        assert dest == want
    assert bytes(data) == raw


@given(st.integers(0, 255), st.binary(max_size=300) | st.sampled_from([125, 126, 65535, 65536]))
def test_any_frame_encodes_alike(b0, raw_or_size):
    raw = payload(raw_or_size) if isinstance(raw_or_size, int) else raw_or_size
    for key in (None, KEY):
        want = reference_frame(b0, raw, key)
        assert _speedups.encode(b0, raw, key) == want
        assert frames._pure_encode(b0, raw, key) == want


@given(st.lists(st.binary(max_size=300), max_size=6), keys)
def test_mask_in_pieces_with_running_offset_equals_mask_whole(pieces, key):
    # The parser unmasks a frame piece by piece, carrying the key phase in `offset`.
    whole = b"".join(pieces)
    for mask in (_speedups.mask, frames._pure_mask):
        out = b""
        for piece in pieces:
            out += mask(piece, key, len(out))
        assert out == naive_mask(whole, key, 0)


# -- function level: Builder, the parser's message buffer ------------------------------------

C_BUILDER = getattr(_speedups, "Builder", None)
PURE_BUILDER = getattr(frames, "_PureBuilder", None)
needs_builder = pytest.mark.skipif(
    C_BUILDER is None or PURE_BUILDER is None, reason="this build has no Builder"
)
BUILDERS = [C_BUILDER, PURE_BUILDER]


def _builder_cases():
    for masked in (False, True):
        for n in LENGTHS:
            for kind in BUFFERS:
                label = "%s-%d-%s" % ("masked" if masked else "plain", n, kind)
                yield pytest.param(masked, n, kind, id=label)


@needs_builder
@pytest.mark.parametrize(("masked", "n", "kind"), list(_builder_cases()))
def test_builder_collects_the_reference_bytes_on_both_paths(masked, n, kind):
    raw = payload(n)
    data = BUFFERS[kind](raw)
    for cls in BUILDERS:
        builder = cls()
        builder.append(b"head")
        want = b"head"
        for offset in (0, 3, -1, 2**64 + 5) if masked else (0,):
            if masked:
                builder.append(data, KEY, offset)
                want += naive_mask(raw, KEY, offset % 4)
            else:
                builder.append(data)
                want += raw
            assert len(builder) == len(want)
        out = builder.take()
        assert type(out) is bytes and out == want, cls.__name__
        assert len(builder) == 0 and builder.take() == b""  # empty after take(), reusable
        builder.append(b"again", KEY)
        assert builder.take() == naive_mask(b"again", KEY, 0)
    assert bytes(data) == raw


@needs_builder
@pytest.mark.parametrize("data", NOT_BUFFERS, ids=_ids(NOT_BUFFERS))
def test_builder_refuses_non_buffers_with_typeerror_on_both_paths(data):
    for cls in BUILDERS:
        for args in ((data,), (data, None), (data, KEY), (data, KEY, 1)):
            builder = cls()
            builder.append(b"kept")
            assert outcome(builder.append, *args) == ("raised", TypeError), (cls, args)
            assert builder.take() == b"kept"


@needs_builder
@pytest.mark.parametrize(("key", "error"), BAD_KEYS[:-2], ids=_ids([k for k, _ in BAD_KEYS[:-2]]))
def test_builder_refuses_a_bad_key_alike_on_both_paths(key, error):
    for cls in BUILDERS:
        for data in (b"abc", payload(2000)):
            builder = cls()
            assert outcome(builder.append, data, key) == ("raised", error)
            assert outcome(builder.append, data, key, 2) == ("raised", error)
            assert len(builder) == 0


@needs_builder
def test_builder_refuses_a_bad_offset_with_a_key_and_bad_arguments_on_both_paths():
    for cls in BUILDERS:
        builder = cls()
        for offset in BAD_OFFSETS:
            assert outcome(builder.append, b"abc", KEY, offset) == ("raised", TypeError)
        assert outcome(builder.append) == ("raised", TypeError)
        assert outcome(builder.append, b"a", KEY, 0, 0) == ("raised", TypeError)
        assert outcome(builder.take, 1) == ("raised", TypeError)
        assert outcome(cls, 1) == ("raised", TypeError)
        assert len(builder) == 0


@needs_builder
@given(st.lists(st.tuples(st.binary(max_size=700), st.booleans()), max_size=8), keys)
def test_builder_in_pieces_with_running_offset_equals_the_reference(pieces, key):
    # As the parser feeds it: one frame's pieces masked with the phase carried on, or not.
    want = b"".join(naive_mask(p, key, 0) if m else p for p, m in pieces)
    for cls in BUILDERS:
        builder = cls()
        for piece, masked in pieces:
            if masked:
                # A fresh frame: restart the phase at 0, then carry it through 2 pieces.
                half = len(piece) // 2
                builder.append(piece[:half], key, 0)
                builder.append(piece[half:], key, half)
            else:
                builder.append(piece)
        assert builder.take() == want


BUILDER_DIVERGENCES = [
    _agreement(
        "builder-offset-without-key",
        "Builder().append(b'abc', None, 1.5): C checks the offset (TypeError), the pure "
        "twin ignores it without a key",
        lambda: _builder_same(b"abc", None, 1.5),
    ),
    _agreement(
        "builder-check-order",
        "Builder().append('abc', b'abc'): C checks the key first (ValueError), pure the "
        "data first (TypeError)",
        lambda: _builder_same("abc", b"abc"),
    ),
    _agreement(
        "builder-multibyte-items-masked",
        "Builder().append(array('H', [1, 2, 3]), key): C unmasks 6 bytes, pure is "
        "OverflowError (len() counts items)",
        lambda: _builder_same(array.array("H", [1, 2, 3]), KEY),
    ),
    _divergence(
        "builder-keyword-arguments",
        "Builder().append(b'x', key=k): C is TypeError (positional only), pure accepts it",
        lambda: (
            outcome(C_BUILDER().append, b"x", key=KEY)
            == outcome(PURE_BUILDER().append, b"x", key=KEY)
        ),
    ),
]


def _builder_same(*args):
    results = []
    for cls in BUILDERS:
        builder = cls()
        results.append((outcome(builder.append, *args), builder.take()))
    return results[0] == results[1]


@needs_builder
@pytest.mark.parametrize("check", BUILDER_DIVERGENCES)
def test_builder_inputs_that_once_diverged_agree_now(check):
    assert check()


# -- connection level: two copies of the package, one trace each ----------------------------


def norm(value):
    """A value both copies can be compared by: type names, fields, bytes byte for byte."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (type(value).__name__, bytes(value))
    if isinstance(value, enum.Enum):  # CloseReason, ConnectionState: either copy's members
        return (type(value).__name__, value.name, value.value)
    if value is None or isinstance(value, (bool, int, str, float)):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(norm(v) for v in value))
    if hasattr(value, "_fields"):
        return (type(value).__name__, tuple((f, norm(getattr(value, f))) for f in value._fields))
    return (type(value).__name__,)  # an extension object: its class is what both share


def convert(event, events_module):
    """The same event as an instance of `events_module`'s class of that name."""
    cls = getattr(events_module, type(event).__name__)
    new = cls.__new__(cls)
    for field in type(event)._fields:
        setattr(new, field, getattr(event, field))
    return new


def _scrub(message):
    # An object's default repr holds its address, which differs between the two runs.
    return re.sub(r" at 0x[0-9a-fA-F]+", " at 0x...", message)


class Run:
    """One copy's run of one input: every call's result or exception, in order."""

    def __init__(self, pkg: types.ModuleType) -> None:
        self.pkg = pkg
        self.log: list = []
        self.last_event = None

    def call(self, what, fn, *args):
        """(True, result) or (False, exception); both go into the log."""
        try:
            result = fn(*args)
        except Exception as exc:  # recorded, then compared with the other copy's
            self.log.append((what, "raised", type(exc).__name__, _scrub(str(exc))))
            return False, exc
        self.log.append((what, norm(result)))
        return True, result

    def state(self, target) -> None:
        self.log.append(("state", norm(target.state)))

    def receive(self, target, data) -> None:
        self.call("receive_data", target.receive_data, data)
        self.state(target)

    def events(self, target, limit=None) -> list:
        got = []
        it = target.events()
        while limit is None or len(got) < max(limit, 1):
            try:
                event = next(it)
            except StopIteration:
                break
            except Exception as exc:  # recorded, then compared
                self.log.append(("events", "raised", type(exc).__name__, _scrub(str(exc))))
                break
            self.last_event = event
            got.append(event)
            self.log.append(("event", norm(event)))
            self.state(target)
        return got

    def send(self, target, event) -> bytes:
        ok, out = self.call("send", target.send, convert(event, self.pkg.events))
        self.state(target)
        return out if ok else b""

    def data_to_send(self, target) -> None:
        self.call("data_to_send", target.data_to_send)

    def finish(self, target) -> None:
        self.events(target)
        self.data_to_send(target)

    def accel_last_event(self):
        """The last event as wsproto_lite's own class, for fuzz/oracles.make_event."""
        last = self.last_event
        return None if last is None else convert(last, accel.events)

    def play(self, target, record, buffers, subprotocols, extension) -> None:
        """One record of a connection script (fuzz/formats.py), as oracles.play_record."""
        op = record.op
        if op == formats.OP_FEED:
            data = record.data
            self.receive(target, oracles.as_buffer(data, record.arg % 3) if buffers else data)
        elif op == formats.OP_FEED_SPLIT:
            step = record.arg + 1
            for i in range(0, len(record.data), step):
                self.receive(target, record.data[i : i + step])
        elif op == formats.OP_EVENTS:
            self.events(target)
        elif op == formats.OP_EVENTS_SOME:
            self.events(target, record.arg)
        elif op == formats.OP_SEND:
            kind = formats.SEND_KINDS[record.arg % len(formats.SEND_KINDS)]
            shim = types.SimpleNamespace(last_event=self.accel_last_event())
            self.send(target, oracles.make_event(kind, record.flags, record.data, shim))
        elif op == formats.OP_DATA_TO_SEND:
            self.data_to_send(target)
        elif op == formats.OP_EOF:
            self.receive(target, None)
        else:
            self.reply(target, subprotocols, extension)

    def reply(self, target, first_subprotocol, extension) -> None:
        """What a typical application answers the last event with (oracles.Watcher.do_reply)."""
        event = self.accel_last_event()
        ev = accel.events
        if isinstance(event, ev.Request):
            sub = event.subprotocols[0] if first_subprotocol and event.subprotocols else None
            exts = [oracles.FuzzExtension()] if extension else []
            self.send(target, ev.AcceptConnection(subprotocol=sub, extensions=exts))
        elif isinstance(event, (ev.Ping, ev.CloseConnection)):
            self.send(target, event.response())
        elif isinstance(event, ev.TextMessage):
            self.send(target, ev.TextMessage(event.data, message_finished=event.message_finished))
        elif isinstance(event, ev.BytesMessage):
            self.send(target, ev.BytesMessage(event.data, message_finished=event.message_finished))


def role(pkg, client: bool):
    types_ = pkg.connection.ConnectionType
    return types_.CLIENT if client else types_.SERVER


def assert_same_runs(drive, *args) -> list:
    """Drive both copies the same way; their logs must match entry for entry."""
    runs = []
    for pkg in (accel, pure):
        run = Run(pkg)
        drive(run, *args)
        runs.append(run.log)
    got, want = runs
    for i, (a, p) in enumerate(zip(got, want)):
        assert a == p, "step %d differs:\n  accelerated %r\n  pure        %r" % (i, a, p)
    assert len(got) == len(want), "the runs differ in length: %d vs %d" % (len(got), len(want))
    return got


# -- connection level: the fuzz corpus, decoded as each harness decodes it ------------------


def drive_frame_parser(run, data, expect_mask, assemble):
    """frames_* harness settings (oracles.run_frame_parser) on a bare FrameParser."""
    c0, c1, body = formats.split_config(data)
    parser = run.pkg.frames.FrameParser(
        expect_mask=expect_mask,
        max_frame_size=formats.FRAME_LIMITS[c0 & 7],
        max_message_size=formats.MESSAGE_LIMITS[(c0 >> 3) & 7],
        allowed_rsv=c1 & 7,
        stream_payload=bool(c0 & 0x40),
        assemble=assemble,
    )
    for i, piece in enumerate(formats.chunks(c1 >> 3, body)):
        parser.feed(oracles.as_buffer(piece, i % 3) if c0 & 0x80 else piece)
        while True:
            ok, frame = run.call("next_frame", parser.next_frame)
            if not ok or frame is None:
                break
            run.log.append(("frame", frame.opcode, type(frame.payload).__name__))
            run.log.append(("payload", bytes(frame.payload), frame.fin, frame.rsv))
        if not ok:
            break


def drive_frames_on_connection(run, data, client, whole, seed):
    """A frames_* corpus body fed to a Connection of the role that receives it."""
    c0, c1, body = formats.split_config(data)
    pkg = run.pkg
    conn = pkg.connection.Connection(
        role(pkg, client),
        # The harness's allowed RSV bits, claimed the way a Connection claims them.
        extensions=[oracles.FuzzExtension()] if c1 & 7 else None,
        max_message_size=formats.MESSAGE_LIMITS[(c0 >> 3) & 7],
        max_frame_size=formats.FRAME_LIMITS[c0 & 7],
        auto_reply=True,
        whole_messages=whole,
        random_bytes=oracles.fixed_random,
    )
    for i, piece in enumerate(formats.chunks(seed, body)):
        run.receive(conn, oracles.as_buffer(piece, i % 3))
        run.events(conn)
        run.data_to_send(conn)
    run.receive(conn, None)
    run.finish(conn)


def drive_wsconnection(run, data):
    """The wsconnection harness's settings and script (oracles.run_wsconnection)."""
    c0, c1, body = formats.split_config(data)
    pkg = run.pkg
    client = bool(c0 & 1)
    options = dict(
        max_message_size=formats.MESSAGE_LIMITS[(c0 >> 3) & 7],
        max_frame_size=(None, 125, 1000, 65535)[c0 >> 6],
        auto_reply=bool(c0 & 2),
        whole_messages=bool(c0 & 4),
        random_bytes=oracles.fixed_random,
    )
    direct = bool(c1 & 4)
    play_handshake = bool(c1 & 8)
    extension = bool(c1 & 0x10)
    subprotocols = ["chat", "superchat"] if c1 & 0x20 else []
    if direct:
        exts = [oracles.FuzzExtension()] if extension else None
        target = pkg.connection.Connection(role(pkg, client), extensions=exts, **options)
    else:
        hs_limit = formats.HANDSHAKE_LIMITS[c1 & 3]
        target = pkg.WSConnection(role(pkg, client), max_handshake_size=hs_limit, **options)
    if play_handshake and client and not direct:
        exts = [oracles.FuzzExtension()] if extension else []
        request = accel.events.Request(
            host="example.com", target="/chat", subprotocols=subprotocols, extensions=exts
        )
        run.send(target, request)
    answered = False
    for record in formats.parse_records(body):
        run.play(target, record, direct, bool(subprotocols), extension)
        if play_handshake and not answered and type(run.last_event).__name__ == "Request":
            answered = True
            run.reply(target, bool(subprotocols), extension)
    run.finish(target)


_HOOKED = {}


def negotiate(pkg, c1, level, hooked):
    """(client's, server's) PerMessageDeflate of `pkg`, agreed as deflate_oracle.negotiate."""
    cls = pkg.extensions.PerMessageDeflate
    if hooked:  # any subclass goes through wsproto's Extension hooks
        if pkg not in _HOOKED:
            _HOOKED[pkg] = type("HookedDeflate", (cls,), {"__slots__": ()})
        cls = _HOOKED[pkg]
    return deflate_oracle.negotiate(c1, level, hooked, cls)


def drive_deflate(run, data):
    """The deflate harness's settings and script (deflate_oracle.run_deflate)."""
    c0, c1, body = formats.split_config(data)
    pkg = run.pkg
    client = bool(c0 & 1)
    client_ext, server_ext = negotiate(pkg, c1, 0 if c0 & 0x80 else 6, bool(c0 & 0x40))
    conn = pkg.connection.Connection(
        role(pkg, client),
        extensions=[client_ext if client else server_ext],
        max_message_size=DEFLATE_LIMITS[(c0 >> 3) & 7],
        auto_reply=bool(c0 & 2),
        whole_messages=bool(c0 & 4),
        random_bytes=oracles.fixed_random,
    )
    for record in formats.parse_records(body):
        run.play(conn, record, True, False, False)
    run.finish(conn)


def drive_handshake_server(run, data):
    """The handshake_server harness's settings (oracles.run_handshake_server)."""
    c0, c1, body = formats.split_config(data)
    pkg = run.pkg
    hs = pkg.handshake.H11Handshake(
        role(pkg, False),
        max_handshake_size=formats.HANDSHAKE_LIMITS[c0 & 3],
        auto_reply=bool(c1 & 4),
        max_message_size=formats.MESSAGE_LIMITS[(c1 >> 3) & 7],
        whole_messages=bool(c1 & 0x40),
    )
    seed = c0 >> 4
    pieces = formats.chunks(seed, body)
    head_end = body.find(b"\r\n\r\n")
    refused = False
    if c1 & 0x80:  # a framework parsed the head
        lines = body[: head_end if head_end >= 0 else len(body)].split(b"\r\n")
        words = lines[0].split(b" ")
        path = words[1] if len(words) > 1 else b"/"
        headers = [
            tuple(p.strip(b" ") for p in line.split(b":", 1)) for line in lines[1:] if b":" in line
        ]
        ok, exc = run.call(
            "initiate_upgrade_connection", hs.initiate_upgrade_connection, headers, path
        )
        if not ok and hasattr(exc, "event_hint"):
            run.send(hs, exc.event_hint)
            refused = True
        pieces = formats.chunks(seed, body[head_end + 4 :] if head_end >= 0 else b"")
    conn = None
    for piece in pieces + ([None] if c0 & 8 else []):
        if conn is not None:
            run.receive(conn, piece)
            run.events(conn)
            continue
        ok, exc = run.call("receive_data", hs.receive_data, piece)
        if not ok and hasattr(exc, "event_hint") and not refused:
            run.send(hs, exc.event_hint)
            refused = True
        for event in run.events(hs):
            if type(event).__name__ != "Request" or refused:
                continue
            if c0 & 4:
                sub = event.subprotocols[0] if c1 & 1 and event.subprotocols else None
                exts = [oracles.FuzzExtension()] if c1 & 2 else []
                run.send(hs, accel.events.AcceptConnection(subprotocol=sub, extensions=exts))
                conn = hs.connection
                if conn is not None:
                    run.events(conn)
            else:
                run.send(hs, accel.events.RejectConnection(status_code=403))
                refused = True
    if conn is not None:
        run.finish(conn)


def drive_handshake_client(run, data):
    """The handshake_client harness's settings (oracles.run_handshake_client)."""
    c0, c1, body = formats.split_config(data)
    pkg = run.pkg
    hs = pkg.handshake.H11Handshake(
        role(pkg, True),
        max_handshake_size=formats.HANDSHAKE_LIMITS[c0 & 3],
        max_reject_body_size=formats.REJECT_BODY_LIMITS[(c0 >> 2) & 3],
        random_bytes=oracles.fixed_random,
        auto_reply=bool(c1 & 8),
        max_message_size=formats.MESSAGE_LIMITS[(c1 >> 4) & 7],
        whole_messages=bool(c1 & 0x80),
    )
    exts = [oracles.FuzzExtension()] if c1 & 4 else []
    offered = oracles.SUBPROTOCOL_OFFERS[c1 & 3]
    request = accel.events.Request(
        host="example.com", target="/chat", subprotocols=offered, extensions=exts
    )
    run.send(hs, request)
    conn = None
    for piece in formats.chunks(c0 >> 5, body) + ([None] if c0 & 0x10 else []):
        if conn is not None:
            run.receive(conn, piece)
            run.events(conn)
            continue
        run.call("receive_data", hs.receive_data, piece)
        for event in run.events(hs):
            if type(event).__name__ == "AcceptConnection":
                conn = hs.connection
                if conn is not None:
                    run.events(conn)
    if conn is not None:
        run.finish(conn)


def corpus_jobs():
    """(harness, path, driver, args) for every corpus file, in every way it can be read."""
    jobs = []
    for path in sorted(p for p in CORPUS.glob("*/*") if p.is_file()):
        harness = path.parent.name
        if harness in ("frames_server", "frames_client"):
            mask = harness == "frames_server"
            for assemble in (False, True):
                jobs.append((harness, path, "parser", (mask, assemble)))
            for whole in (False, True):
                for seed in (0, 1, 7):  # whole, a byte at a time, pseudo-random
                    jobs.append((harness, path, "connection", (not mask, whole, seed)))
        else:
            jobs.append((harness, path, harness, ()))
    return jobs


CORPUS_DRIVERS = {
    "parser": drive_frame_parser,
    "connection": drive_frames_on_connection,
    "wsconnection": drive_wsconnection,
    "deflate": drive_deflate,
    "handshake_server": drive_handshake_server,
    "handshake_client": drive_handshake_client,
}
CORPUS_JOBS = corpus_jobs()


def test_every_corpus_harness_has_a_driver():
    harnesses = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    # The frames_* bodies go through the "parser" and "connection" drivers.
    drivers = (set(CORPUS_DRIVERS) - {"parser", "connection"}) | {"frames_server", "frames_client"}
    assert harnesses == drivers
    assert len(CORPUS_JOBS) >= len(list(CORPUS.glob("*/*")))


@needs_accelerated_copy
@pytest.mark.parametrize(
    ("harness", "path", "how", "args"),
    CORPUS_JOBS,
    ids=[
        "%s/%s-%s%s" % (h, p.name, w, "".join("-%s" % (a,) for a in args))
        for h, p, w, args in CORPUS_JOBS
    ],
)
def test_corpus_gives_the_same_events_and_bytes_on_both_paths(harness, path, how, args):
    log = assert_same_runs(CORPUS_DRIVERS[how], path.read_bytes(), *args)
    assert log, "the input drove nothing"


# -- connection level: Hypothesis frame streams ---------------------------------------------


def compress(data: bytes) -> bytes:
    """One message's deflate payload (RFC 7692 §7.2.1), from a fresh compressor."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(TAIL) else out


CLOSE_CODES = (1000, 1001, 1002, 1005, 1006, 1007, 1009, 1015, 2999, 3000, 4999, 5000)
BIG_SIZES = (125, 126, 127, 1000, 65535, 65536, 70001)


@st.composite
def data_payloads(draw):
    if draw(st.integers(0, 4)) == 0:
        return payload(draw(st.sampled_from(BIG_SIZES)))
    if draw(st.booleans()):
        return draw(st.text(max_size=60)).encode("utf-8")
    return draw(st.binary(max_size=200))


@st.composite
def messages(draw, deflate):
    """A data message as frames: fragmented at random, control frames between fragments.

    Compressed (RSV1) half the time where `deflate` was agreed, else now and then: then
    RSV1 is a violation.
    """
    opcode = draw(st.sampled_from([1, 2]))
    data = draw(data_payloads())
    compressed = draw(st.booleans()) if deflate else draw(st.integers(0, 15)) == 0
    wire = compress(data) if compressed else data
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=3)))
    parts = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)])]
    out = []
    for i, part in enumerate(parts):
        if i and draw(st.integers(0, 2)) == 0:
            out.append((9, draw(st.binary(max_size=20)), True, 0))
        rsv = 4 if compressed and i == 0 else 0
        out.append((0 if i else opcode, part, i == len(parts) - 1, rsv))
    return out


@st.composite
def controls(draw):
    opcode = draw(st.sampled_from([8, 9, 10]))
    if opcode == 8:
        body = draw(
            st.just(b"")
            | st.builds(
                lambda code, reason: code.to_bytes(2, "big") + reason,
                st.sampled_from(CLOSE_CODES),
                st.binary(max_size=20) | st.text(max_size=20).map(str.encode),
            )
        )
    else:
        body = draw(st.binary(max_size=126))  # 126 is one too many for a control frame
    return [(opcode, body, True, 0)]


@st.composite
def raw_frames(draw):
    """Any header at all: reserved opcodes, RSV bits, unfinished control frames."""
    return [
        (
            draw(st.integers(0, 15)),
            draw(st.binary(max_size=130)),
            draw(st.booleans()),
            draw(st.integers(0, 7)),
        )
    ]


@st.composite
def elements(draw, deflate):
    """Mostly messages, some control frames, now and then any frame at all."""
    pick = draw(st.integers(0, 9))
    if pick == 0:
        return draw(raw_frames())
    if pick <= 2:
        return draw(controls())
    return draw(messages(deflate))


@st.composite
def streams(draw, client, deflate):
    """The bytes a peer sends a `client` (unmasked) or a server (masked, now and then not)."""
    wire = b""
    for frames_ in draw(st.lists(elements(deflate), max_size=6)):
        for opcode, body, fin, rsv in frames_:
            key = None if client else draw(keys)
            if draw(st.integers(0, 30)) == 0:
                key = KEY if key is None else None  # wrong masking for the role
            wire += PURE_FRAMES.build_frame(opcode, body, fin, rsv, key)
        if draw(st.integers(0, 20)) == 0:
            wire += draw(st.binary(min_size=1, max_size=12))  # garbage
    return wire


def deflate_extension(pkg, client, client_nct, server_nct):
    """`pkg`'s PerMessageDeflate for the `client` or server end, negotiated with a peer."""
    c1 = (1 if client_nct else 0) | (2 if server_nct else 0)
    client_ext, server_ext = negotiate(pkg, c1, 6, False)
    return client_ext if client else server_ext


def drive_stream(run, wire, client, options, cuts, deflate, drain_each):
    pkg = run.pkg
    exts = [deflate_extension(pkg, client, *deflate)] if deflate else None
    conn = pkg.connection.Connection(
        role(pkg, client), extensions=exts, random_bytes=oracles.fixed_random, **options
    )
    points = sorted({c % (len(wire) + 1) for c in cuts})
    for i, (a, b) in enumerate(zip([0, *points], [*points, len(wire)])):
        run.receive(conn, oracles.as_buffer(wire[a:b], i % 3))
        if drain_each:
            run.events(conn)
            run.data_to_send(conn)
    run.finish(conn)
    run.receive(conn, None)
    run.finish(conn)


connection_options = st.fixed_dictionaries(
    {
        "whole_messages": st.booleans(),
        "auto_reply": st.booleans() | st.just(True),
        "max_message_size": st.sampled_from([None, 1 << 20, 65536, 300, 125, 0]),
        "max_frame_size": st.sampled_from([None, 125, 1000]),
    }
)
# None, or (client_no_context_takeover, server_no_context_takeover) of an agreed deflate.
deflate_settings = st.sampled_from([None, None, (False, False), (True, False), (False, True)])


@needs_accelerated_copy
@settings(deadline=None)
@given(
    st.booleans(),
    connection_options,
    deflate_settings,
    st.lists(st.integers(0, 1 << 20), max_size=10),
    st.booleans(),
    st.data(),
)
def test_any_frame_stream_gives_the_same_events_on_both_paths(
    client, options, deflate, cuts, drain_each, data
):
    wire = data.draw(streams(client, deflate is not None), label="wire")
    assert_same_runs(drive_stream, wire, client, options, cuts, deflate, drain_each)


@needs_accelerated_copy
@settings(deadline=None)
@given(
    st.booleans(),
    st.lists(st.binary(max_size=40), min_size=1, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.booleans(),
    keys,
)
def test_fragmented_binary_with_pings_byte_by_byte_is_the_same_on_both_paths(
    client, fragments, pings, whole, key
):
    wire = b""
    for i, fragment in enumerate(fragments):
        if i and pings[i]:
            wire += PURE_FRAMES.build_frame(9, b"ping %d" % i, True, 0, None if client else key)
        fin = i == len(fragments) - 1
        opcode = 0 if i else 2
        wire += PURE_FRAMES.build_frame(opcode, fragment, fin, 0, None if client else key)
    options = {"whole_messages": whole, "auto_reply": True}
    log = assert_same_runs(drive_stream, wire, client, options, range(1, len(wire)), None, True)
    # And right, not merely alike: the message's bytes, whole or in pieces, in order.
    pieces = [e for e in log if e[0] == "event" and e[1][0] == "BytesMessage"]
    assert b"".join(dict(p[1][1])["data"][1] for p in pieces) == b"".join(fragments)
    if whole:
        assert len(pieces) == 1
    pongs = [e for e in log if e[0] == "data_to_send" and e[1][1]]
    assert len(pongs) == sum(1 for i in range(1, len(fragments)) if pings[i])


@needs_accelerated_copy
@settings(deadline=None)
@given(
    st.booleans(),
    st.integers(1, 4),
    st.sampled_from([0, 1, 125, 126, 300]),
    st.integers(1, 200),
    st.booleans(),
    st.lists(st.integers(0, 1 << 20), max_size=6),
)
def test_oversize_message_fails_1009_alike_on_both_paths(
    client, n_fragments, limit, extra, whole, cuts
):
    data = payload(limit + extra)
    step = -(-len(data) // n_fragments)
    parts = [data[i : i + step] for i in range(0, len(data), step)]
    key = None if client else KEY
    wire = b"".join(
        PURE_FRAMES.build_frame(0 if i else 2, part, i == len(parts) - 1, 0, key)
        for i, part in enumerate(parts)
    )
    options = {"whole_messages": whole, "auto_reply": True, "max_message_size": limit}
    log = assert_same_runs(drive_stream, wire, client, options, cuts, None, True)
    violations = [e for e in log if e[0] == "event" and e[1][0] == "SizeViolation"]
    assert len(violations) == 1
    assert dict(violations[0][1][1])["code"][-1] == 1009


# -- connection level: every length, every key phase, deterministic ------------------------

CONNECTION_LENGTHS = (0, 1, 3, 4, 5, 7, 8, 16, 17, 125, 126, 127, 128, 129, 1023, 1024, 1025)
CONNECTION_LENGTHS += (65535, 65536, 2**20 + 3)
# Piece sizes cycled through: every key phase at a piece boundary, then a large piece.
PIECE_CYCLE = (1, 2, 3, 5, 4099)


def cycle_cuts(total):
    cuts = []
    pos = 0
    i = 0
    while pos < total:
        pos += PIECE_CYCLE[i % len(PIECE_CYCLE)]
        cuts.append(pos)
        i += 1
    return cuts


def message_wire(raw, client, fragmented):
    """One binary message to a `client` (unmasked) or a server (masked with KEY)."""
    key = None if client else KEY
    if not fragmented:
        return PURE_FRAMES.build_frame(2, raw, True, 0, key)
    third = len(raw) // 3
    parts = [raw[:third], raw[third : 2 * third], raw[2 * third :]]
    wire = PURE_FRAMES.build_frame(2, parts[0], False, 0, key)
    wire += PURE_FRAMES.build_frame(9, b"between", True, 0, key)  # RFC 6455 §5.5
    wire += PURE_FRAMES.build_frame(0, parts[1], False, 0, key)
    return wire + PURE_FRAMES.build_frame(0, parts[2], True, 0, key)


@needs_accelerated_copy
@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragmented"])
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("n", CONNECTION_LENGTHS)
def test_every_length_is_received_alike_on_both_paths(n, client, whole, fragmented):
    raw = payload(n)
    wire = message_wire(raw, client, fragmented)
    options = {"whole_messages": whole, "auto_reply": True, "max_message_size": None}
    for cuts in ([], cycle_cuts(len(wire))):
        log = assert_same_runs(drive_stream, wire, client, options, cuts, None, True)
        # And right: the message's bytes, whole or in pieces, in order.
        pieces = [dict(e[1][1]) for e in log if e[0] == "event" and e[1][0] == "BytesMessage"]
        assert b"".join(p["data"][1] for p in pieces) == raw
        assert pieces[-1]["message_finished"] == ("bool", True)
        if whole:
            assert len(pieces) == 1


def drive_one_send(run, client, event, deflate):
    pkg = run.pkg
    exts = [deflate_extension(pkg, client, *deflate)] if deflate else None
    conn = pkg.connection.Connection(
        role(pkg, client), extensions=exts, random_bytes=lambda n: KEY[:n]
    )
    run.send(conn, event)
    run.send(conn, event)  # the second key of the pool, the short path's state


@needs_accelerated_copy
@pytest.mark.parametrize("deflate", [None, (False, False)], ids=["plain", "deflate"])
@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("n", CONNECTION_LENGTHS)
def test_every_length_is_sent_alike_on_both_paths(n, client, deflate):
    raw = payload(n)
    ev = accel.events
    events = [
        ev.BytesMessage(raw),
        ev.BytesMessage(bytearray(raw)),
        ev.BytesMessage(memoryview(raw)),
        ev.TextMessage(raw.hex()[:n]),
        ev.BytesMessage(raw, message_finished=False),
    ]
    if n <= 125:
        events += [ev.Ping(raw), ev.Pong(raw)]
    for event in events:
        log = assert_same_runs(drive_one_send, client, event, deflate)
        assert log[0][1] != "raised", log[0]
    if not deflate:  # and right, against the frame built by hand
        out = assert_same_runs(drive_one_send, client, ev.BytesMessage(raw), None)[0][1][1]
        assert out == reference_frame(0x82, raw, KEY if client else None)


# -- connection level: what send() makes ------------------------------------------------------

SEND_SIZES = (0, 1, 3, 4, 5, 125, 126, 127, 1000, 65535, 65536, 70001)


@st.composite
def send_plans(draw):
    """Application events: messages of random sizes (some fragmented), pings, pongs, a close.

    A fragmented message mostly goes on in its own type; now and then it switches, which
    send() must refuse alike on both paths.
    """
    plan = []
    sending = None
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["bytes", "bytes", "bytes", "text", "text", "ping", "pong"]))
        if sending is not None and kind in ("bytes", "text") and draw(st.integers(0, 7)):
            kind = sending
        fin = draw(st.integers(0, 3)) > 0
        size = draw(st.sampled_from(SEND_SIZES) | st.integers(0, 300))
        plan.append((kind, size, fin, draw(st.integers(0, 2))))
        if kind in ("bytes", "text"):
            sending = None if fin else kind
    if draw(st.booleans()):
        plan.append(("close", 0, True, 0))
    return plan


def seeded_random_bytes(seed):
    rng = random.Random(seed)
    return rng.randbytes


def drive_sends(run, client, plan, seed, deflate):
    pkg = run.pkg
    ev = accel.events
    exts = [deflate_extension(pkg, client, *deflate)] if deflate else None
    conn = pkg.connection.Connection(
        role(pkg, client), extensions=exts, random_bytes=seeded_random_bytes(seed)
    )
    for kind, size, fin, buffer_kind in plan:
        data = payload(size)
        if kind == "bytes":
            event = ev.BytesMessage(oracles.as_buffer(data, buffer_kind), message_finished=fin)
        elif kind == "text":
            event = ev.TextMessage(data.hex()[:size], message_finished=fin)
        elif kind == "ping":
            event = ev.Ping(data[:125])
        elif kind == "pong":
            event = ev.Pong(data[:125])
        else:
            event = ev.CloseConnection(1000, "bye")
        run.send(conn, event)


@needs_accelerated_copy
@settings(deadline=None)
@given(st.booleans(), send_plans(), st.integers(0, 2**32), deflate_settings)
def test_send_gives_the_same_bytes_on_both_paths(client, plan, seed, deflate):
    log = assert_same_runs(drive_sends, client, plan, seed, deflate)
    if deflate:
        return
    # And right: the peer's parser (pure path) reads back exactly what was sent.
    parser = PURE_FRAMES.FrameParser(expect_mask=client)
    for entry in log:
        if entry[0] == "send" and entry[1] != "raised":
            parser.feed(entry[1][1])
    got = []
    while True:
        frame = parser.next_frame()
        if frame is None:
            break
        got.append(frame)
    assert parser.buffered == 0
    assert len(got) == sum(1 for e in log if e[0] == "send" and e[1] != "raised")


def _send_one(run, client, data):
    pkg = run.pkg
    conn = pkg.connection.Connection(role(pkg, client), random_bytes=lambda n: KEY[:n])
    run.send(conn, accel.events.BytesMessage(data))


SEND_BUFFERS = [
    pytest.param(
        False,
        memoryview(payload(512))[::2],
        id="server-strided-256",
    ),
    pytest.param(
        False,
        array.array("H", range(200)),
        id="server-array-H-400",
    ),
    pytest.param(
        True,
        array.array("H", range(10)),
        id="client-array-H-20",
    ),
    pytest.param(True, memoryview(payload(512))[::2], id="client-strided-256"),
    pytest.param(True, array.array("B", payload(300)), id="client-array-B-300"),
    pytest.param(False, array.array("B", payload(300)), id="server-array-B-300"),
]


@needs_accelerated_copy
@pytest.mark.parametrize(("client", "data"), SEND_BUFFERS)
def test_send_of_unusual_buffers_is_the_same_on_both_paths(client, data):
    log = assert_same_runs(_send_one, client, data)
    assert log[0][0] == "send"
    # And right on both: the frame announces and carries the buffer's bytes, not its items
    # (array('H') and strided views once gave corrupt frames or errors on the pure path).
    for pkg in (accel, pure):
        conn = pkg.connection.Connection(role(pkg, client))
        parser = pkg.frames.FrameParser(expect_mask=client)
        parser.feed(conn.send(pkg.events.BytesMessage(data)))
        frame = parser.next_frame()
        assert frame is not None and frame.payload == memoryview(data).tobytes()
        assert parser.buffered == 0


# -- which path runs -------------------------------------------------------------------------


WHICH_PATH = """
import wsproto_lite.frames as f, wsproto_lite._speedups as s
c_builder = getattr(s, "Builder", None)
print(f.SPEEDUPS)
print(f.mask is f._pure_mask, f.mask_append is f._pure_mask_append, f._encode is f._pure_encode,
      c_builder is None or f.Builder is f._PureBuilder)
print(f.mask is s.mask, f.mask_append is s.mask_append, f._encode is s.encode,
      c_builder is None or f.Builder is c_builder)
"""


def _which_path(env_extra):
    """(SPEEDUPS, all pure twins in use, all C functions in use) in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "WSPROTO_LITE_NO_SPEEDUPS"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", WHICH_PATH], cwd=str(ROOT), env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    return lines[0], lines[1].split(), lines[2].split()


def test_no_speedups_env_var_selects_the_pure_path():
    speedups, pure_twins, c_functions = _which_path({"WSPROTO_LITE_NO_SPEEDUPS": "1"})
    assert speedups == "False"
    assert pure_twins == ["True"] * 4
    assert c_functions == ["False"] * 4


def test_without_the_env_var_the_accelerator_is_used():
    speedups, pure_twins, c_functions = _which_path({})
    assert speedups == "True"
    assert c_functions == ["True"] * 4
    assert pure_twins[:3] == ["False"] * 3


def test_the_two_copies_take_the_paths_they_are_named_for():
    assert not PURE_FRAMES.SPEEDUPS
    assert PURE_FRAMES.mask is PURE_FRAMES._pure_mask
    assert pure.connection.Connection is not accel.connection.Connection
    if frames.SPEEDUPS:
        assert frames.mask is _speedups.mask
