"""Core speed against wsproto and websockets' sans-IO protocol, in one process, interleaved.

    python benchmarks/core.py [--quick] [--rounds N] [--time SECONDS] [--only TEXT] [--cpu]
                              [--no-pure] [--require-speedups]

Every case feeds the same pre-built byte stream, cut into the same 64 KiB reads, to each
implementation (or sends the same payloads), counts the finished messages (asserted
equal to what the stream holds) and reports the median of the rounds. Ratios are
ours / peer of those medians: above 1.0 we are faster. "ours" is the default import of
wsproto_lite (with its compiled accelerator when it is in use), "pure" the same checkout
imported a second time on the pure-Python path (fuzz/pure_core.py), timed in the same
rounds. See benchmarks/README.md.
"""

import argparse
import os
import platform
import random
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository's wsproto_lite, installed or not

import _harness as h  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)
import websockets  # noqa: E402
import websockets.frames  # noqa: E402
import wsproto  # noqa: E402
import wsproto.connection  # noqa: E402
import wsproto.events  # noqa: E402
from websockets.protocol import Protocol, Side, State  # noqa: E402

import wsproto_lite  # noqa: E402
import wsproto_lite.connection  # noqa: E402
import wsproto_lite.events  # noqa: E402
import wsproto_lite.frames  # noqa: E402

OURS = "ours"  # the default import: accelerated when wsproto_lite.frames.SPEEDUPS
OURS_WHOLE = "ours whole"
PURE = "pure"  # the second copy, wsproto_lite_pure: always the pure-Python path
PURE_WHOLE = "pure whole"
WSPROTO = "wsproto"
WEBSOCKETS = "websockets"
WHOLE = {OURS: OURS_WHOLE, PURE: PURE_WHOLE}  # the whole_messages=True variant of each

SIZES = [("16 B", 16), ("1 KiB", 1 << 10), ("64 KiB", 1 << 16), ("1 MiB", 1 << 20)]
# Messages per repetition of a stream: enough that connection setup is noise, and that
# the small-message streams span several 64 KiB reads with frames cut at the edges.
MESSAGES = {16: 6000, 1 << 10: 600, 1 << 16: 16, 1 << 20: 4}
QUICK_MESSAGES = {16: 600, 1 << 10: 60, 1 << 16: 4, 1 << 20: 1}


class Target(NamedTuple):
    """A goal: impl / peer of the medians >= minimum on every row of the named cases.

    impl is OURS or PURE; a parse case's [frames] and [whole] rows are both checked.
    """

    impl: str
    peer: str
    minimum: float
    cases: Tuple[str, ...]
    what: str  # the cases in words, for the footer


SMALL_CASES = (
    "server parse 16 B masked",
    "client parse 16 B unmasked",
    "server send 16 B unmasked",
    "client send 16 B masked",
)
BIG_MASKED_CASES = ("server parse 1 MiB masked", "client send 1 MiB masked")
# Issue 13: the accelerated core at least level with websockets (which masks in C).
LEVEL_WITH_WEBSOCKETS_CASES = (
    "server parse 64 KiB masked",
    "server parse 1 MiB masked",
    "client send 64 KiB masked",
    "client send 1 MiB masked",
    "server parse 1 MiB in 4 KiB frames",
    "server parse text 64 KiB UTF-8*",
)
TARGETS = [
    Target(OURS, WSPROTO, 4.0, SMALL_CASES, "16 B parse and send, both roles"),
    Target(OURS, WEBSOCKETS, 1.5, SMALL_CASES, "16 B parse and send, both roles (issue 13)"),
    Target(
        OURS,
        WEBSOCKETS,
        1.0,
        LEVEL_WITH_WEBSOCKETS_CASES,
        "64 KiB and 1 MiB masked (server parse, client send), 1 MiB in 4 KiB frames,"
        " text 64 KiB (issue 13)",
    ),
    Target(OURS, WSPROTO, 1.0, BIG_MASKED_CASES, "1 MiB masked: server parse, client send"),
    Target(PURE, WSPROTO, 1.1, BIG_MASKED_CASES, "1 MiB masked: server parse, client send"),
]


def targets_for(impl: str, case: str) -> "list[Target]":
    return [t for t in TARGETS if t.impl == impl and case in t.cases]


def verdict(targets: "list[Target]", ratios: "dict[str, float]") -> str:
    """PASS, MISS with the peers missed (impl/peer < minimum), or "" without a target."""
    if not targets:
        return ""
    misses = ["%s<%gx" % (t.peer, t.minimum) for t in targets if ratios[t.peer] < t.minimum]
    return "MISS " + ", ".join(misses) if misses else "PASS"


class Lite:
    """One copy of wsproto_lite: the default import, or the second one on the pure path."""

    def __init__(self, package: ModuleType) -> None:
        self.name = package.__name__
        self.speedups = bool(package.frames.SPEEDUPS)
        self.Connection = package.connection.Connection
        self.ConnectionType = package.connection.ConnectionType
        self.BytesMessage = package.events.BytesMessage

    def connection(self, client: bool, **options: Any) -> Any:
        side = self.ConnectionType.CLIENT if client else self.ConnectionType.SERVER
        return self.Connection(side, max_message_size=None, **options)


# The copies under test, by implementation name; main() adds PURE unless --no-pure.
LITES: "dict[str, Lite]" = {OURS: Lite(wsproto_lite)}


def load_pure() -> Lite:
    from fuzz.pure_core import load_pure as load

    return Lite(load())


def websockets_speedups() -> bool:
    """True when websockets unmasks with its C extension rather than pure Python."""
    try:
        from websockets import speedups
    except ImportError:
        return False
    # Compare the objects: the extension reports its __module__ as "websocket.speedups".
    return websockets.frames.apply_mask is speedups.apply_mask


# -- parsing ------------------------------------------------------------------------------


def parse_lite(lite: Lite, chunks: "list[bytes]", client: bool, whole: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        conn = lite.connection(client, whole_messages=whole)
        receive = conn.receive_data
        events = conn.events
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for chunk in chunks:
                receive(chunk)
                for event in events():
                    if event.message_finished:
                        n += 1
        return clock() - t0, n

    return bench


def parse_wsproto(chunks: "list[bytes]", client: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        side = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
        conn = wsproto.connection.Connection(side)
        receive = conn.receive_data
        events = conn.events
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for chunk in chunks:
                receive(chunk)
                for event in events():
                    if event.message_finished:
                        n += 1
        return clock() - t0, n

    return bench


def parse_websockets(chunks: "list[bytes]", client: bool, text: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        side = Side.CLIENT if client else Side.SERVER
        proto = Protocol(side, state=State.OPEN, max_size=None)
        receive = proto.receive_data
        events = proto.events_received
        n = 0
        clock = h.clock
        t0 = clock()
        if text:
            # websockets' sans-IO core hands out undecoded bytes; its I/O layers decode.
            for _ in range(reps):
                for chunk in chunks:
                    receive(chunk)
                    for frame in events():
                        frame.data.decode("utf-8")
                        if frame.fin:
                            n += 1
        else:
            for _ in range(reps):
                for chunk in chunks:
                    receive(chunk)
                    for frame in events():
                        if frame.fin:
                            n += 1
        return clock() - t0, n

    return bench


def assemble(pieces: "list[tuple[Any, bool]]") -> "list[Any]":
    """Join (data, message_finished) pieces into whole messages."""
    messages: list[Any] = []
    current: list[Any] = []
    for data, finished in pieces:
        current.append(data)
        if finished:
            messages.append("".join(current) if isinstance(data, str) else b"".join(current))
            current = []
    return messages


def received_by(name: str, chunks: "list[bytes]", client: bool, text: bool) -> "list[Any]":
    """Every message one implementation gets from one pass over the stream (untimed)."""
    pieces: list[tuple[Any, bool]] = []
    if name in (WSPROTO, WEBSOCKETS):
        if name == WSPROTO:
            side_ = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
            wconn = wsproto.connection.Connection(side_)
            for chunk in chunks:
                wconn.receive_data(chunk)
                pieces += [(e.data, e.message_finished) for e in wconn.events()]
        else:
            side = Side.CLIENT if client else Side.SERVER
            proto = Protocol(side, state=State.OPEN, max_size=None)
            for chunk in chunks:
                proto.receive_data(chunk)
                for frame in proto.events_received():
                    assert not text or frame.fin, "text cases must be one frame per message"
                    data = bytes(frame.data)
                    pieces.append((data.decode("utf-8") if text else data, frame.fin))
        return assemble(pieces)
    base = OURS if name in (OURS, OURS_WHOLE) else PURE
    conn = LITES[base].connection(client, whole_messages=name == WHOLE[base])
    for chunk in chunks:
        conn.receive_data(chunk)
        pieces += [(e.data, e.message_finished) for e in conn.events()]
    return assemble(pieces)


class Case:
    """One row group: benches to interleave, the messages per repetition, the check."""

    def __init__(
        self,
        label: str,
        payload_bytes: int,
        messages: int,
        benches: "dict[str, h.Bench]",
        check: "Callable[[], None]",
    ) -> None:
        self.label = label
        self.payload_bytes = payload_bytes
        self.messages = messages
        self.benches = benches
        self.check = check  # a callable that asserts every implementation got it right


def parse_case(
    label: str,
    frames: "list[bytes]",
    expected: "list[Any]",
    payload_bytes: int,
    client: bool,
    text: bool = False,
) -> Case:
    """A case where each implementation receives `frames` joined and cut into 64 KiB reads."""
    chunks = h.chop(b"".join(frames))
    benches: dict[str, h.Bench] = {}
    for name, lite in LITES.items():
        benches[name] = parse_lite(lite, chunks, client, whole=False)
        benches[WHOLE[name]] = parse_lite(lite, chunks, client, whole=True)
    benches[WSPROTO] = parse_wsproto(chunks, client)
    benches[WEBSOCKETS] = parse_websockets(chunks, client, text)

    def check() -> None:
        for name in benches:
            got = received_by(name, chunks, client, text)
            assert got == expected, "%s: %s parsed differently" % (label, name)

    return Case(label, payload_bytes, len(expected), benches, check)


# -- serialising --------------------------------------------------------------------------


def send_lite(lite: Lite, payload: bytes, count: int, client: bool) -> h.Bench:
    message = lite.BytesMessage

    def bench(reps: int) -> "tuple[float, int]":
        send = lite.connection(client).send  # mask keys from os.urandom, as deployed
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for _ in range(count):
                send(message(payload))
                n += 1
        return clock() - t0, n

    return bench


def send_wsproto(payload: bytes, count: int, client: bool) -> h.Bench:
    message = wsproto.events.BytesMessage

    def bench(reps: int) -> "tuple[float, int]":
        side = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
        send = wsproto.connection.Connection(side).send
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for _ in range(count):
                send(message(data=payload))
                n += 1
        return clock() - t0, n

    return bench


def send_websockets(payload: bytes, count: int, client: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        proto = Protocol(Side.CLIENT if client else Side.SERVER, state=State.OPEN, max_size=None)
        send_binary = proto.send_binary
        data_to_send = proto.data_to_send
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for _ in range(count):
                send_binary(payload)
                data_to_send()
                n += 1
        return clock() - t0, n

    return bench


def sent_by(name: str, payload: bytes, client: bool) -> bytes:
    """The bytes one implementation sends for one binary message (untimed)."""
    if name in LITES:
        lite = LITES[name]
        return lite.connection(client).send(lite.BytesMessage(payload))
    if name == WSPROTO:
        side_ = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
        return bytes(
            wsproto.connection.Connection(side_).send(wsproto.events.BytesMessage(payload))
        )
    proto = Protocol(Side.CLIENT if client else Side.SERVER, state=State.OPEN, max_size=None)
    proto.send_binary(payload)
    return b"".join(proto.data_to_send())


def sent_with_keys(lite: Lite, payload: bytes, client: bool) -> bytes:
    """Three messages from one connection whose mask keys come from a fixed-seed source."""
    conn = lite.connection(client, random_bytes=random.Random(13).randbytes)
    return b"".join(conn.send(lite.BytesMessage(payload)) for _ in range(3))


def send_case(label: str, payload: bytes, count: int, client: bool) -> Case:
    benches = {name: send_lite(lite, payload, count, client) for name, lite in LITES.items()}
    benches[WSPROTO] = send_wsproto(payload, count, client)
    benches[WEBSOCKETS] = send_websockets(payload, count, client)

    def check() -> None:
        for name in benches:
            wire = sent_by(name, payload, client)
            opcode, fin, got, used = h.read_frame(wire)
            assert (opcode, fin, got, used) == (2, True, payload, len(wire)), name
            assert bool(wire[1] & 0x80) == client, "%s: masking is wrong for the role" % name
        # Given the same mask keys, every copy of ours sends exactly the same bytes.
        wire = sent_with_keys(LITES[OURS], payload, client)
        for name, lite in LITES.items():
            assert sent_with_keys(lite, payload, client) == wire, "%s: other bytes" % name

    return Case(label, len(payload), count, benches, check)


# -- the cases ----------------------------------------------------------------------------


def build_cases(quick: bool) -> "list[Case]":
    counts = QUICK_MESSAGES if quick else MESSAGES
    key = h.FIXED_KEY
    cases = []
    for role, client in (("server", False), ("client", True)):
        for label, size in SIZES:
            payload = h.binary_payload(size)
            n = counts[size]
            frame = h.build_frame(2, payload, key=None if client else key)
            what = "unmasked" if client else "masked"
            cases.append(
                parse_case(
                    "%s parse %s %s" % (role, label, what), [frame] * n, [payload] * n, size, client
                )
            )
    for role, client in (("server", False), ("client", True)):
        for label, size in SIZES:
            payload = h.binary_payload(size)
            what = "masked" if client else "unmasked"
            cases.append(
                send_case("%s send %s %s" % (role, label, what), payload, counts[size], client)
            )
    # One 1 MiB message in 256 frames of 4 KiB: continuation frames and reassembly.
    payload = h.binary_payload(1 << 20)
    pieces = [payload[i : i + 4096] for i in range(0, len(payload), 4096)]
    frames = [
        h.build_frame(0 if i else 2, piece, fin=i == len(pieces) - 1, key=key)
        for i, piece in enumerate(pieces)
    ]
    n = 1 if quick else 2
    cases.append(
        parse_case("server parse 1 MiB in 4 KiB frames", frames * n, [payload] * n, 1 << 20, False)
    )
    for label, size in (("1 KiB", 1 << 10), ("64 KiB", 1 << 16)):
        text = h.multibyte_text(size)
        frame = h.build_frame(1, text.encode("utf-8"), key=key)
        n = counts[size]
        cases.append(
            parse_case(
                "server parse text %s UTF-8*" % label,
                [frame] * n,
                [text] * n,
                size,
                False,
                text=True,
            )
        )
    labels = {case.label for case in cases}
    for t in TARGETS:  # a renamed case must not silently drop its target
        assert labels.issuperset(t.cases), "target on unknown cases: %s" % (
            sorted(set(t.cases) - labels),
        )
    return cases


# -- the run ------------------------------------------------------------------------------


def more_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-pure",
        action="store_true",
        help="leave out 'pure' (wsproto_lite on its pure-Python path): about a third faster",
    )
    parser.add_argument(
        "--require-speedups",
        action="store_true",
        help="exit with status 2 unless ours runs the compiled accelerator (frames.SPEEDUPS)",
    )


def why_no_speedups() -> str:
    if os.environ.get("WSPROTO_LITE_NO_SPEEDUPS"):
        return "WSPROTO_LITE_NO_SPEEDUPS is set"
    try:
        import wsproto_lite._speedups  # noqa: F401
    except ImportError as exc:
        return "wsproto_lite._speedups does not import (%s); build it with `pip install -e .`" % (
            exc,
        )
    return "wsproto_lite.frames did not take it"


def print_header(args: argparse.Namespace, rounds: int, seconds: float) -> None:
    print("Python %s (%s)" % (platform.python_version(), platform.python_implementation()))
    print("platform %s, %s CPUs" % (platform.platform(), os.cpu_count()))
    print(
        "wsproto_lite from %s, wsproto %s, websockets %s with speedups %s"
        % (
            os.path.dirname(wsproto_lite.__file__ or "?"),
            wsproto.__version__,
            websockets.__version__,
            "ON (C masking)" if websockets_speedups() else "OFF (pure-Python masking)",
        )
    )
    if LITES[OURS].speedups:
        ours = "ours: wsproto_lite with its accelerator ON (frames.SPEEDUPS is True)"
    else:
        ours = "ours: wsproto_lite with its accelerator OFF (frames.SPEEDUPS is False: %s)" % (
            why_no_speedups()
        )
    if PURE in LITES:
        ours += "; pure: the same files imported again as %s, accelerator OFF" % (LITES[PURE].name)
    else:
        ours += "; pure: not run (--no-pure)"
    print(ours)
    h.print_settings(args, rounds, seconds)
    print()


def ratio(x: float) -> str:
    return "%.2fx" % x


def main() -> int:
    args, rounds, seconds = h.case_options(__doc__.split("\n")[0], more_options)
    if args.require_speedups and not LITES[OURS].speedups:
        print(
            "core.py: --require-speedups, but wsproto_lite runs without its accelerator"
            " (frames.SPEEDUPS is False): %s" % why_no_speedups(),
            file=sys.stderr,
        )
        return 2
    if not args.no_pure:
        LITES[PURE] = load_pure()
    print_header(args, rounds, seconds)

    rows = []
    pure_rows = []
    mb_rows = []
    for case in build_cases(args.quick):
        if args.only not in case.label:
            continue
        print("running %s ..." % case.label, file=sys.stderr, flush=True)
        case.check()
        rates = h.run_interleaved(case.benches, case.messages, rounds, seconds)
        med = {name: h.median(values) for name, values in rates.items()}
        variants = [OURS, OURS_WHOLE] if OURS_WHOLE in med else [OURS]
        for variant in variants:
            label = case.label
            if len(variants) > 1:
                label += " [whole]" if variant == OURS_WHOLE else " [frames]"
            vs = {WSPROTO: med[variant] / med[WSPROTO], WEBSOCKETS: med[variant] / med[WEBSOCKETS]}
            rows.append(
                [
                    label,
                    h.fmt_rate(med[variant]),
                    h.fmt_rate(med[WSPROTO]),
                    h.fmt_rate(med[WEBSOCKETS]),
                    ratio(vs[WSPROTO]),
                    ratio(vs[WEBSOCKETS]),
                    "%.0f%%" % (100 * h.spread(rates[variant])),
                    verdict(targets_for(OURS, case.label), vs),
                ]
            )
            mb = case.payload_bytes / 1e6
            mb_row = [label, "%.1f" % (med[variant] * mb)]
            if PURE in LITES:
                pure = PURE_WHOLE if variant == OURS_WHOLE else PURE
                pvs = {
                    OURS: med[pure] / med[variant],
                    WSPROTO: med[pure] / med[WSPROTO],
                    WEBSOCKETS: med[pure] / med[WEBSOCKETS],
                }
                pure_rows.append(
                    [
                        label,
                        h.fmt_rate(med[pure]),
                        ratio(pvs[OURS]),
                        ratio(pvs[WSPROTO]),
                        ratio(pvs[WEBSOCKETS]),
                        "%.0f%%" % (100 * h.spread(rates[pure])),
                        verdict(targets_for(PURE, case.label), pvs),
                    ]
                )
                mb_row.append("%.1f" % (med[pure] * mb))
            mb_row += ["%.1f" % (med[WSPROTO] * mb), "%.1f" % (med[WEBSOCKETS] * mb)]
            mb_rows.append(mb_row)

    print("Messages per second (median of rounds); ratios are ours / peer of the medians:")
    print()
    h.print_table(
        [
            "case",
            "ours msg/s",
            "wsproto",
            "websockets",
            "ours/wsproto",
            "ours/websockets",
            "ours spread",
            "target",
        ],
        rows,
    )
    if PURE in LITES:
        print()
        print(
            "Pure-Python path (%s), timed in the same rounds; ratios are pure / peer:"
            % LITES[PURE].name
        )
        print()
        h.print_table(
            [
                "case",
                "pure msg/s",
                "pure/ours",
                "pure/wsproto",
                "pure/websockets",
                "pure spread",
                "target",
            ],
            pure_rows,
        )
    print()
    print("Payload throughput, MB/s (10^6 payload bytes per second, headers not counted):")
    print()
    h.print_table(
        ["case", "ours MB/s", *(["pure MB/s"] if PURE in LITES else []), "wsproto MB/s"]
        + ["websockets MB/s"],
        mb_rows,
    )
    print()
    print("[frames] ours (and pure) per frame piece, as wsproto delivers; [whole] with")
    print("  whole_messages=True.")
    print("* websockets' sans-IO core does not decode text: this benchmark decodes each")
    print("  TEXT frame with bytes.decode('utf-8') inside the timed loop; ours, pure and")
    print("  wsproto decode (and validate) inside the library.")
    print("spread: (max - min) / median of the rounds; large means a noisy machine.")
    print("targets (information only, the exit status is 0 whatever they say):")
    for t in TARGETS:
        if t.impl == PURE and PURE not in LITES:
            continue
        print("  %s >= %gx %s: %s" % (t.impl, t.minimum, t.peer, t.what))
    return 0


if __name__ == "__main__":
    sys.exit(main())
