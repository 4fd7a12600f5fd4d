"""Core speed against wsproto and websockets' sans-IO protocol, in one process, interleaved.

    python benchmarks/core.py [--quick] [--rounds N] [--time SECONDS] [--only TEXT]

Every case feeds the same pre-built byte stream, cut into the same 64 KiB reads, to each
implementation (or sends the same payloads), counts the finished messages (asserted
equal to what the stream holds) and reports the median of the rounds. Ratios are
ours / peer of those medians: above 1.0 we are faster. See benchmarks/README.md.
"""

import os
import platform
import sys
from collections.abc import Callable
from typing import Any, Optional, Tuple

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
from wsproto_lite.connection import Connection, ConnectionType  # noqa: E402
from wsproto_lite.events import BytesMessage  # noqa: E402

OURS = "ours"
OURS_WHOLE = "ours whole"
WSPROTO = "wsproto"
WEBSOCKETS = "websockets"

SIZES = [("16 B", 16), ("1 KiB", 1 << 10), ("64 KiB", 1 << 16), ("1 MiB", 1 << 20)]
# Messages per repetition of a stream: enough that connection setup is noise, and that
# the small-message streams span several 64 KiB reads with frames cut at the edges.
MESSAGES = {16: 6000, 1 << 10: 600, 1 << 16: 16, 1 << 20: 4}
QUICK_MESSAGES = {16: 600, 1 << 10: 60, 1 << 16: 4, 1 << 20: 1}

# Targets: (min ours/wsproto, min ours/websockets); None means no target on that peer.
Target = Optional[Tuple[Optional[float], Optional[float]]]
SMALL_TARGET: Target = (4.0, 1.5)
BIG_TARGET: Target = (1.0, None)


def websockets_speedups() -> bool:
    """True when websockets unmasks with its C extension rather than pure Python."""
    try:
        from websockets import speedups
    except ImportError:
        return False
    # Compare the objects: the extension reports its __module__ as "websocket.speedups".
    return websockets.frames.apply_mask is speedups.apply_mask


# -- parsing ------------------------------------------------------------------------------


def parse_ours(chunks: "list[bytes]", client: bool, whole: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        side = ConnectionType.CLIENT if client else ConnectionType.SERVER
        conn = Connection(side, max_message_size=None, whole_messages=whole)
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
    if name in (OURS, OURS_WHOLE):
        side = ConnectionType.CLIENT if client else ConnectionType.SERVER
        conn = Connection(side, max_message_size=None, whole_messages=name == OURS_WHOLE)
        for chunk in chunks:
            conn.receive_data(chunk)
            pieces += [(e.data, e.message_finished) for e in conn.events()]
    elif name == WSPROTO:
        side_ = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
        wconn = wsproto.connection.Connection(side_)
        for chunk in chunks:
            wconn.receive_data(chunk)
            pieces += [(e.data, e.message_finished) for e in wconn.events()]
    else:
        proto = Protocol(Side.CLIENT if client else Side.SERVER, state=State.OPEN, max_size=None)
        for chunk in chunks:
            proto.receive_data(chunk)
            for frame in proto.events_received():
                assert not text or frame.fin, "text cases must be one frame per message"
                data = bytes(frame.data)
                pieces.append((data.decode("utf-8") if text else data, frame.fin))
    return assemble(pieces)


class Case:
    """One row group: benches to interleave, the messages per repetition, and targets."""

    def __init__(
        self,
        label: str,
        payload_bytes: int,
        messages: int,
        benches: "dict[str, h.Bench]",
        check: "Callable[[], None]",
        target: "Target" = None,
    ) -> None:
        self.label = label
        self.payload_bytes = payload_bytes
        self.messages = messages
        self.benches = benches
        self.target = target
        self.check = check  # a callable that asserts every implementation got it right


def parse_case(
    label: str,
    frames: "list[bytes]",
    expected: "list[Any]",
    payload_bytes: int,
    client: bool,
    text: bool = False,
    target: "Target" = None,
) -> Case:
    """A case where each implementation receives `frames` joined and cut into 64 KiB reads."""
    chunks = h.chop(b"".join(frames))
    benches = {
        OURS: parse_ours(chunks, client, whole=False),
        OURS_WHOLE: parse_ours(chunks, client, whole=True),
        WSPROTO: parse_wsproto(chunks, client),
        WEBSOCKETS: parse_websockets(chunks, client, text),
    }

    def check() -> None:
        for name in benches:
            got = received_by(name, chunks, client, text)
            assert got == expected, "%s: %s parsed differently" % (label, name)

    return Case(label, payload_bytes, len(expected), benches, check, target)


# -- serialising --------------------------------------------------------------------------


def send_ours(payload: bytes, count: int, client: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        side = ConnectionType.CLIENT if client else ConnectionType.SERVER
        send = Connection(side, max_message_size=None).send
        n = 0
        clock = h.clock
        t0 = clock()
        for _ in range(reps):
            for _ in range(count):
                send(BytesMessage(payload))
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
    if name == OURS:
        side = ConnectionType.CLIENT if client else ConnectionType.SERVER
        return Connection(side, max_message_size=None).send(BytesMessage(payload))
    if name == WSPROTO:
        side_ = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
        return bytes(
            wsproto.connection.Connection(side_).send(wsproto.events.BytesMessage(payload))
        )
    proto = Protocol(Side.CLIENT if client else Side.SERVER, state=State.OPEN, max_size=None)
    proto.send_binary(payload)
    return b"".join(proto.data_to_send())


def send_case(label: str, payload: bytes, count: int, client: bool, target: "Target") -> Case:
    benches = {
        OURS: send_ours(payload, count, client),
        WSPROTO: send_wsproto(payload, count, client),
        WEBSOCKETS: send_websockets(payload, count, client),
    }

    def check() -> None:
        for name in benches:
            wire = sent_by(name, payload, client)
            opcode, fin, got, used = h.read_frame(wire)
            assert (opcode, fin, got, used) == (2, True, payload, len(wire)), name
            assert bool(wire[1] & 0x80) == client, "%s: masking is wrong for the role" % name

    return Case(label, len(payload), count, benches, check, target)


# -- the cases ----------------------------------------------------------------------------


def target_for(size: int, masked: bool) -> Target:
    if size == 16:
        return SMALL_TARGET
    if size == 1 << 20 and masked:
        return BIG_TARGET
    return None


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
                    "%s parse %s %s" % (role, label, what),
                    [frame] * n,
                    [payload] * n,
                    size,
                    client,
                    target=target_for(size, masked=not client),
                )
            )
    for role, client in (("server", False), ("client", True)):
        for label, size in SIZES:
            payload = h.binary_payload(size)
            what = "masked" if client else "unmasked"
            target = target_for(size, masked=client)
            cases.append(
                send_case(
                    "%s send %s %s" % (role, label, what), payload, counts[size], client, target
                )
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
    return cases


def verdict(target: "Target", vs_wsproto: float, vs_ws: float) -> str:
    if target is None:
        return ""
    misses = []
    need_wsproto, need_ws = target
    if need_wsproto is not None and vs_wsproto < need_wsproto:
        misses.append("wsproto<%gx" % need_wsproto)
    if need_ws is not None and vs_ws < need_ws:
        misses.append("websockets<%gx" % need_ws)
    return "MISS " + ", ".join(misses) if misses else "PASS"


def main() -> int:
    args, rounds, seconds = h.case_options(__doc__.split("\n")[0])

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
    h.print_settings(args, rounds, seconds)
    print()

    rows = []
    mb_rows = []
    for case in build_cases(args.quick):
        if args.only not in case.label:
            continue
        print("running %s ..." % case.label, file=sys.stderr, flush=True)
        case.check()
        rates = h.run_interleaved(case.benches, case.messages, rounds, seconds)
        med = {name: h.median(values) for name, values in rates.items()}
        for ours in (OURS, OURS_WHOLE):
            if ours not in med:
                continue
            label = case.label + (" [whole]" if ours == OURS_WHOLE else "")
            if OURS_WHOLE in med and ours == OURS:
                label += " [frames]"
            vs_wsproto = med[ours] / med[WSPROTO]
            vs_ws = med[ours] / med[WEBSOCKETS]
            rows.append(
                [
                    label,
                    h.fmt_rate(med[ours]),
                    h.fmt_rate(med[WSPROTO]),
                    h.fmt_rate(med[WEBSOCKETS]),
                    "%.2fx" % vs_wsproto,
                    "%.2fx" % vs_ws,
                    "%.0f%%" % (100 * h.spread(rates[ours])),
                    verdict(case.target, vs_wsproto, vs_ws),
                ]
            )
            mb = case.payload_bytes / 1e6
            mb_rows.append(
                [
                    label,
                    "%.1f" % (med[ours] * mb),
                    "%.1f" % (med[WSPROTO] * mb),
                    "%.1f" % (med[WEBSOCKETS] * mb),
                ]
            )

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
    print()
    print("Payload throughput, MB/s (10^6 payload bytes per second, headers not counted):")
    print()
    h.print_table(["case", "ours MB/s", "wsproto MB/s", "websockets MB/s"], mb_rows)
    print()
    print("[frames] ours per frame piece, as wsproto delivers; [whole] whole_messages=True.")
    print("* websockets' sans-IO core does not decode text: this benchmark decodes each")
    print("  TEXT frame with bytes.decode('utf-8') inside the timed loop; ours and wsproto")
    print("  decode (and validate) inside the library.")
    print("ours spread: (max - min) / median of our rounds; large means a noisy machine.")
    print(
        "targets: 16 B parse and send, both roles: ours >= %gx wsproto and >= %gx websockets;"
        % SMALL_TARGET
    )
    print("         1 MiB server parse (masked) and client send (masked): ours >= 1x wsproto.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
