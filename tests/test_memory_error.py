"""A MemoryError while a message is assembled fails that connection with 1009 (DESIGN §4).

Real allocation failures, not a mocked one: each case runs in a child interpreter whose
address space is capped (RLIMIT_AS) a little above what it uses, then receives an
endless fragmented message with no message limit. The child reports what the core did.
Runs with the C accelerator and on the pure path (WSPROTO_LITE_NO_SPEEDUPS=1).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource", reason="RLIMIT_AS needs the resource module (Unix)")

CHILD = textwrap.dedent(
    r"""
    import json, mmap, resource, sys
    from wsproto_lite.connection import Connection, ConnectionState, ConnectionType
    from wsproto_lite.events import CloseConnection, SizeViolation
    from wsproto_lite.frames import SPEEDUPS, encode_frame, parse_close_payload

    opcode = int(sys.argv[1])
    MiB = 1 << 20
    piece = (b"x" if opcode == 1 else b"\x00\xff") * (2 * MiB)  # 4 MiB (text) or 8 MiB
    first = encode_frame(opcode, piece, False, 0, b"\x01\x02\x03\x04")
    more = encode_frame(0, piece, False, 0, b"\x01\x02\x03\x04")
    conn = Connection(ConnectionType.SERVER, max_message_size=None, whole_messages=True,
                      auto_reply=True)

    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * mmap.PAGESIZE
    cap = vm + 160 * MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))

    events, fed = [], 0
    while not events and fed < 200:  # 200 pieces: 800 MiB or more, far above the cap
        conn.receive_data(first if fed == 0 else more)
        fed += 1
        events = list(conn.events())
    out = conn.data_to_send()
    event = events[0] if events else None
    # What the message held is free again: the same room can be taken once more.
    again = bytearray(100 * MiB)
    print(json.dumps({
        "speedups": SPEEDUPS,
        "fed": fed,
        "events": [type(e).__name__ for e in events],
        "code": getattr(event, "code", None),
        "reason": getattr(event, "reason", None),
        "sent": list(parse_close_payload(out[2:])) if out[:1] == b"\x88" else out.hex(),
        "state": conn.state.name,
        "again": len(again),
        "more_events": [type(e).__name__ for e in conn.events()],
    }))
    """
)


@pytest.mark.parametrize("pure", [False, True], ids=["accelerated", "pure"])
@pytest.mark.parametrize("opcode", [1, 2], ids=["text", "binary"])
def test_a_message_the_process_cannot_hold_fails_with_1009(opcode: int, pure: bool) -> None:
    env = dict(os.environ)
    env.pop("WSPROTO_LITE_NO_SPEEDUPS", None)
    if pure:
        env["WSPROTO_LITE_NO_SPEEDUPS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(opcode)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    if not pure and os.environ.get("WSPROTO_LITE_NO_SPEEDUPS") is None:
        from wsproto_lite.frames import SPEEDUPS

        assert got["speedups"] == SPEEDUPS
    if pure:
        assert got["speedups"] is False
    # It failed well before the 200th piece, with a SizeViolation and our close frame.
    assert got["fed"] < 200, got
    assert got["events"] == ["SizeViolation"], got
    assert got["code"] == 1009
    assert got["reason"] == "out of memory for the message"
    assert got["sent"] == [1009, "out of memory for the message"]
    assert got["state"] == "CLOSED"
    assert got["again"] == 100 << 20  # the assembled bytes were let go
    assert got["more_events"] == []  # nothing parsed after the failure
