"""permessage-deflate in the core: ours against wsproto and websockets, in one process.

    python benchmarks/deflate_core.py [--quick] [--rounds N] [--time SECONDS] [--only TEXT] [--cpu]

Each implementation runs with permessage-deflate negotiated as the asyncio servers agree
to it (server window 12 bits, the client's 15 bits; see README.md, "permessage-deflate")
and context takeover on both sides. Parse cases feed every implementation the same
compressed stream (built here with zlib, one compressor for the whole stream as a real
peer has, masked for a server) cut into 64 KiB reads, and time parse + inflate + UTF-8
decode of every message; send cases time compress + frame (+ mask for a client) of the
same messages. Messages are JSON-like text, a pool of distinct ones sent in turn. Ratios
are ours / peer of the median rates: above 1.0 we are faster.
"""

import os
import platform
import sys
import zlib
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository's wsproto_lite, installed or not

import _harness as h  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)
import websockets  # noqa: E402
import wsproto  # noqa: E402
import wsproto.connection  # noqa: E402
import wsproto.events  # noqa: E402
import wsproto.extensions  # noqa: E402
from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate  # noqa: E402
from websockets.protocol import Protocol, Side, State  # noqa: E402

import wsproto_lite  # noqa: E402
from wsproto_lite.connection import Connection, ConnectionType  # noqa: E402
from wsproto_lite.events import TextMessage  # noqa: E402
from wsproto_lite.extensions import PerMessageDeflate  # noqa: E402

OURS = "ours"
WSPROTO = "wsproto"
WEBSOCKETS = "websockets"
NAMES = (OURS, WSPROTO, WEBSOCKETS)

SERVER_BITS = 12  # what both asyncio servers ask for their own window
CLIENT_BITS = 15  # what ours agrees to for a client's window (websockets' server: 12)
MEM_LEVEL = 5  # both asyncio facades' compressors (wsproto's cannot be set: 8)
OFFER = "permessage-deflate; client_max_window_bits"
ANSWER = "permessage-deflate; client_max_window_bits=%d; server_max_window_bits=%d" % (
    CLIENT_BITS,
    SERVER_BITS,
)

SIZES = [("1 KiB", 1 << 10), ("64 KiB", 1 << 16)]
MESSAGES = {1 << 10: 400, 1 << 16: 16}  # per repetition
QUICK_MESSAGES = {1 << 10: 20, 1 << 16: 2}
POOL = {1 << 10: 32, 1 << 16: 8}  # distinct messages, sent in turn


# -- negotiated connections, one per implementation -------------------------------------


def ours_conn(client: bool) -> Connection:
    if client:
        ext = PerMessageDeflate(mem_level=MEM_LEVEL)
        ext.offer()
        ext.finalize(ANSWER)
    else:
        ext = PerMessageDeflate(server_max_window_bits=SERVER_BITS, mem_level=MEM_LEVEL)
        assert ext.accept(OFFER) is not None
    assert ext.enabled()
    side = ConnectionType.CLIENT if client else ConnectionType.SERVER
    return Connection(side, extensions=[ext], max_message_size=None, whole_messages=True)


def wsproto_conn(client: bool) -> Any:
    ext = wsproto.extensions.PerMessageDeflate(server_max_window_bits=SERVER_BITS)
    if client:
        ext.finalize(ANSWER)
    else:
        assert ext.accept(OFFER) is not None
    assert ext.enabled()
    side = wsproto.ConnectionType.CLIENT if client else wsproto.ConnectionType.SERVER
    return wsproto.connection.Connection(side, extensions=[ext])


def websockets_proto(client: bool) -> Protocol:
    local, remote = (CLIENT_BITS, SERVER_BITS) if client else (SERVER_BITS, CLIENT_BITS)
    proto = Protocol(Side.CLIENT if client else Side.SERVER, state=State.OPEN, max_size=None)
    proto.extensions = [
        WsDeflate(False, False, remote, local, compress_settings={"memLevel": MEM_LEVEL})
    ]
    return proto


# -- parse + inflate ----------------------------------------------------------------------


def compressed_stream(texts: "List[str]", client: bool) -> "List[bytes]":
    """The peer's frames for `texts`: one compressor, context kept, masked to a server."""
    bits = SERVER_BITS if client else CLIENT_BITS  # the peer's window
    compressor = h.raw_compressor(bits, MEM_LEVEL)
    key = None if client else h.FIXED_KEY
    wire = b"".join(
        h.build_frame(1, h.deflate_message(compressor, t.encode()), key=key, rsv1=True)
        for t in texts
    )
    return h.chop(wire)


def parse_bench(name: str, chunks: "List[bytes]", client: bool) -> h.Bench:
    # A compressed stream cannot be replayed into the same inflater (its back references
    # would reach into the previous pass), so each repetition gets a fresh connection,
    # made outside the timed region.
    def bench(reps: int) -> "tuple[float, int]":
        clock = h.clock
        total = 0.0
        n = 0
        for _ in range(reps):
            if name == WEBSOCKETS:
                proto = websockets_proto(client)
                receive, frames = proto.receive_data, proto.events_received
                t0 = clock()
                for chunk in chunks:
                    receive(chunk)
                    for frame in frames():
                        # websockets' sans-IO core hands out bytes; its I/O layer decodes.
                        frame.data.decode("utf-8")
                        if frame.fin:
                            n += 1
                total += clock() - t0
                continue
            conn = ours_conn(client) if name == OURS else wsproto_conn(client)
            receive, events = conn.receive_data, conn.events
            t0 = clock()
            for chunk in chunks:
                receive(chunk)
                for event in events():
                    if event.message_finished:
                        n += 1
            total += clock() - t0
        return total, n

    return bench


def received_by(name: str, chunks: "List[bytes]", client: bool) -> "List[str]":
    messages: List[str] = []
    parts: List[str] = []
    if name == WEBSOCKETS:
        proto = websockets_proto(client)
        for chunk in chunks:
            proto.receive_data(chunk)
            for frame in proto.events_received():
                parts.append(bytes(frame.data).decode("utf-8"))
                if frame.fin:
                    messages.append("".join(parts))
                    parts = []
        return messages
    conn = ours_conn(client) if name == OURS else wsproto_conn(client)
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            assert isinstance(event.data, str), "%s: not a text message" % name
            parts.append(event.data)
            if event.message_finished:
                messages.append("".join(parts))
                parts = []
    return messages


# -- compress + frame ---------------------------------------------------------------------


def send_bench(name: str, texts: "List[str]", client: bool) -> h.Bench:
    def bench(reps: int) -> "tuple[float, int]":
        clock = h.clock
        n = 0
        if name == WEBSOCKETS:
            proto = websockets_proto(client)
            send_text, data_to_send = proto.send_text, proto.data_to_send
            t0 = clock()
            for _ in range(reps):
                for text in texts:
                    # Its I/O layer encodes a str before the sans-IO core sees it.
                    send_text(text.encode("utf-8"))
                    data_to_send()
                    n += 1
            return clock() - t0, n
        if name == OURS:
            send: Any = ours_conn(client).send
            message: Any = TextMessage
        else:
            send = wsproto_conn(client).send
            message = wsproto.events.TextMessage
        t0 = clock()
        for _ in range(reps):
            for text in texts:
                send(message(data=text))
                n += 1
        return clock() - t0, n

    return bench


def sent_by(name: str, texts: "List[str]", client: bool) -> bytes:
    if name == WEBSOCKETS:
        proto = websockets_proto(client)
        for text in texts:
            proto.send_text(text.encode("utf-8"))
        return b"".join(proto.data_to_send())
    if name == OURS:
        conn: Any = ours_conn(client)
        return b"".join(conn.send(TextMessage(t)) for t in texts)
    wconn = wsproto_conn(client)
    return b"".join(bytes(wconn.send(wsproto.events.TextMessage(data=t))) for t in texts)


def inflate_all(wire: bytes, client: bool) -> "List[str]":
    """Read back what one implementation sent: every frame compressed, one context."""
    inflater = zlib.decompressobj(-(CLIENT_BITS if client else SERVER_BITS))
    texts = []
    while wire:
        opcode, fin, payload, used = h.read_frame(wire)
        assert opcode == 1 and fin and wire[0] & 0x40, "not one compressed text frame"
        assert bool(wire[1] & 0x80) == client, "masking is wrong for the role"
        texts.append(inflater.decompress(payload + h.DEFLATE_TAIL).decode("utf-8"))
        wire = wire[used:]
    return texts


# -- the cases ----------------------------------------------------------------------------


class Case:
    def __init__(
        self, label: str, size: int, messages: int, benches: "Dict[str, h.Bench]", check: Any
    ) -> None:
        self.label = label
        self.size = size
        self.messages = messages
        self.benches = benches
        self.check = check


def parse_check(chunks: "List[bytes]", client: bool, texts: "List[str]") -> Any:
    def check() -> None:
        for name in NAMES:
            assert received_by(name, chunks, client) == texts, "%s parsed differently" % name

    return check


def send_check(texts: "List[str]", client: bool) -> Any:
    def check() -> None:
        for name in NAMES:
            got = inflate_all(sent_by(name, texts, client), client)
            assert got == texts, "%s sent something else" % name

    return check


def build_cases(quick: bool) -> "List[Case]":
    counts = QUICK_MESSAGES if quick else MESSAGES
    cases = []
    for label, size in SIZES:
        pool = [h.json_text(size, seed=i) for i in range(POOL[size])]
        texts = [pool[i % len(pool)] for i in range(counts[size])]
        for role, client in (("server", False), ("client", True)):
            chunks = compressed_stream(texts, client)
            cases.append(
                Case(
                    "%s parse+inflate %s JSON" % (role, label),
                    size,
                    len(texts),
                    {name: parse_bench(name, chunks, client) for name in NAMES},
                    parse_check(chunks, client, texts),
                )
            )
        for role, client in (("server", False), ("client", True)):
            cases.append(
                Case(
                    "%s compress+send %s JSON" % (role, label),
                    size,
                    len(texts),
                    {name: send_bench(name, texts, client) for name in NAMES},
                    send_check(texts, client),
                )
            )
    return cases


def wire_ratio(size: int) -> float:
    """How much the JSON-like text of `size` bytes shrinks, one message on its own."""
    text = h.json_text(size, seed=0).encode()
    return len(text) / len(h.deflate_message(h.raw_compressor(SERVER_BITS, MEM_LEVEL), text))


def main() -> int:
    args, rounds, seconds = h.case_options(__doc__.split("\n")[0])

    print("Python %s (%s)" % (platform.python_version(), platform.python_implementation()))
    print(
        "platform %s, %s CPUs, zlib %s" % (platform.platform(), os.cpu_count(), zlib.ZLIB_VERSION)
    )
    print(
        "wsproto_lite from %s, wsproto %s, websockets %s"
        % (
            os.path.dirname(wsproto_lite.__file__ or "?"),
            wsproto.__version__,
            websockets.__version__,
        )
    )
    print(
        "permessage-deflate: server window %d bits, client window %d bits, context takeover;"
        " memLevel %d (wsproto: 8, not settable), level 6" % (SERVER_BITS, CLIENT_BITS, MEM_LEVEL)
    )
    h.print_settings(args, rounds, seconds)
    print(
        "JSON-like text compresses %.1fx (1 KiB) and %.1fx (64 KiB) as single messages"
        % (wire_ratio(1 << 10), wire_ratio(1 << 16))
    )
    print()

    rows = []
    for case in build_cases(args.quick):
        if args.only not in case.label:
            continue
        print("running %s ..." % case.label, file=sys.stderr, flush=True)
        case.check()
        rates = h.run_interleaved(case.benches, case.messages, rounds, seconds)
        med = {name: h.median(values) for name, values in rates.items()}
        rows.append(
            [
                case.label,
                h.fmt_rate(med[OURS]),
                h.fmt_rate(med[WSPROTO]),
                h.fmt_rate(med[WEBSOCKETS]),
                "%.1f" % (1e6 / med[OURS]),
                "%.1f" % (1e6 / med[WEBSOCKETS]),
                "%.2fx" % (med[OURS] / med[WSPROTO]),
                "%.2fx" % (med[OURS] / med[WEBSOCKETS]),
                "%.0f%%" % (100 * h.spread(rates[OURS])),
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
            "ours us/msg",
            "websockets us/msg",
            "ours/wsproto",
            "ours/websockets",
            "ours spread",
        ],
        rows,
    )
    print()
    print("Ratios above 1.00x: ours handles more messages per second (is faster).")
    print("parse+inflate: receive_data() of 64 KiB reads and every event, text decoded (ours")
    print("whole_messages=True, as the asyncio transport; websockets: bytes.decode in the loop).")
    print("compress+send: send() of a text message and its bytes (websockets: send_text of the")
    print("encoded str, then data_to_send()). us/msg: 1e6 / the median rate.")
    print("ours spread: (max - min) / median of our rounds; large means a noisy machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
