"""Write the seed corpus, fuzz/corpus/<harness>/<seed name>: python fuzz/make_corpus.py

Small valid and nearly valid inputs for each harness, so fuzzing starts deep in the
protocol instead of at random bytes. Each file is a complete harness input: the two
config bytes (fuzz/formats.py, fuzz/oracles.py) and then the body. `--check` only
compares the files with what this script would write and fails if they differ. A harness
that reads another's input format (fuzz.formats.SEEDS_FROM: speedups reads frames_server's)
starts from that one's seeds and has no folder of its own.
"""

import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import formats  # noqa: E402
from fuzz.oracles import CLIENT_KEY, expected_accept  # noqa: E402
from wsproto_lite.frames import build_frame  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"
KEY = b"\x37\xfa\x21\x3d"

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
REQUEST_EXT = REQUEST[:-2] + b"Sec-WebSocket-Extensions: x-fuzz, permessage-deflate\r\n\r\n"


def response(extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + expected_accept(CLIENT_KEY) + b"\r\n" + extra + b"\r\n"
    )


def cfg(c0: int, c1: int) -> bytes:
    return bytes((c0, c1))


def frames(masked: bool) -> dict[str, bytes]:
    """Frame streams named by what they hold; masked as a client sends them, or not."""
    key = KEY if masked else None

    def f(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
        return build_frame(opcode, payload, fin, rsv, key)

    snowman = "naïve ☃ 😀".encode()
    return {
        "hello": f(1, b"Hello"),
        "fragmented-hello": f(1, b"Hel", False) + f(0, b"lo"),
        "ping-between-fragments": f(1, b"Hel", False) + f(9, b"ping") + f(0, b"lo"),
        "utf8-split-mid-code-point": f(1, snowman[:7], False) + f(0, snowman[7:]),
        "binary-256": f(2, bytes(range(256))),
        "pong-close": f(10, b"pong") + f(8, b"\x03\xe8bye"),
        "close-empty": f(8),
        "rsv1-text": f(1, b"x", rsv=4),
        "extension-asks": f(2, b"!zabc", rsv=4) + f(1, b"ok!t", rsv=4) + f(2, b"!e9", rsv=4),
        "continuation-first": f(0, b"x"),
        "bad-utf8": f(1, b"ok\xed\xa0\x80"),
        "close-1005": f(8, b"\x03\xed"),
        "non-minimal-length": build_frame(2, b"abc", True, 0, key, length_size=2),
        "lying-length": build_frame(2, b"abc", True, 0, key, length=1 << 40),
    }


def seeds() -> dict[str, dict[str, bytes]]:
    """Every seed: {harness: {file name: input bytes}}."""
    out: dict[str, dict[str, bytes]] = {}
    for name, masked in (("frames_server", True), ("frames_client", False)):
        streams = frames(masked)
        # Config byte 0: frame limit 125 (3) / 65536 (7) / none (0), message limit
        # 65536 (6 << 3), streaming (0x40). Byte 1: RSV allowed, chunking seed.
        configs = (
            cfg(7 | 6 << 3, 0),
            cfg(3 | 6 << 3 | 0x40, 1 << 3),
            cfg(0, 4 | 5 << 3),
            cfg(4 | 4 << 3 | 0x40, 9 << 3),
        )
        out[name] = {
            seed: configs[i % len(configs)] + body for i, (seed, body) in enumerate(streams.items())
        }
    client_frames = frames(True)
    server_frames = frames(False)
    out["handshake_server"] = {
        # Byte 0: limit 16384 (3), accept (4), EOF (8), chunking; byte 1: options.
        "rfc-request": cfg(3 | 4, 0) + REQUEST,
        "rfc-request-then-frames": cfg(3 | 4 | 8 | 2 << 4, 0x01 | 0x04)
        + REQUEST
        + client_frames["ping-between-fragments"]
        + client_frames["pong-close"],
        "extension-offer": cfg(3 | 4, 0x02 | 0x04) + REQUEST_EXT + client_frames["rsv1-text"],
        "rejected": cfg(2, 0) + REQUEST,
        "framework-parsed": cfg(3 | 4, 0x80) + REQUEST + client_frames["hello"],
        "version-8": cfg(3, 0) + REQUEST.replace(b"Version: 13", b"Version: 8"),
        "post": cfg(3, 0) + REQUEST.replace(b"GET", b"POST"),
        "head-over-limit": cfg(0 | 1 << 4, 0) + REQUEST,
        "eof-inside-head": cfg(3 | 8, 0) + REQUEST[:40],
    }
    out["handshake_client"] = {
        # Byte 0: limit 16384 (3), body limit (2-3), EOF (0x10), chunking; byte 1: offers.
        "accept": cfg(3, 0) + response(),
        "accept-subprotocol": cfg(3, 2) + response(b"Sec-WebSocket-Protocol: chat\r\n"),
        "accept-extension": cfg(3, 4)
        + response(b"Sec-WebSocket-Extensions: x-fuzz\r\n")
        + server_frames["rsv1-text"],
        "accept-then-frames": cfg(3 | 0x10 | 3 << 5, 0x08)
        + response()
        + server_frames["ping-between-fragments"]
        + server_frames["pong-close"],
        "reject-with-length": cfg(3 | 2 << 2, 0)
        + b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!",
        "reject-chunked": cfg(3 | 1 << 2, 0)
        + b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "redirect-until-eof": cfg(3 | 3 << 2 | 0x10, 0)
        + b"HTTP/1.1 301 Moved Permanently\r\nLocation: ws://elsewhere/\r\n\r\nbody",
        "wrong-accept": cfg(3, 0) + response().replace(b"Accept: ", b"Accept: x"),
    }
    f = formats
    req = f.feed(REQUEST)
    out["wsconnection"] = {
        # Byte 0: role (1 = client), auto_reply (2), whole_messages (4), message limit
        # (3-5), frame limit (6-7). Byte 1: handshake limit, bare Connection (4), the
        # harness plays the handshake (8), FuzzExtension (0x10), subprotocols (0x20).
        "server-echo": cfg(2 | 6 << 3, 3 | 0x08 | 0x20)
        + f.encode_records(
            [
                req,
                f.events(),
                f.feed(client_frames["fragmented-hello"]),
                f.events(),
                f.reply(),
                f.feed_split(client_frames["ping-between-fragments"], 3),
                f.events(),
                f.data_to_send(),
                f.feed(client_frames["pong-close"]),
                f.events(),
                f.data_to_send(),
            ]
        ),
        "server-manual": cfg(4 | 5 << 3, 3)
        + f.encode_records(
            [
                req,
                f.events(),
                f.send("accept_plain"),
                f.send("text", "héllo".encode()),
                f.send("bytes_fragment", b"ab"),
                f.send("bytes", b"cd"),
                f.feed(client_frames["utf8-split-mid-code-point"]),
                f.events(1),
                f.events(),
                f.send("close", b"\x03\xe8bye", 0x03),
                f.feed(client_frames["pong-close"]),
                f.events(),
                f.eof(),
            ]
        ),
        "server-violation": cfg(2 | 1 << 6, 3 | 0x08)
        + f.encode_records(
            [req, f.events(), f.feed(client_frames["bad-utf8"]), f.events(), f.data_to_send()]
        ),
        "client-echo": cfg(1 | 2 | 6 << 3, 3 | 0x08 | 0x20)
        + f.encode_records(
            [
                f.feed(response(b"Sec-WebSocket-Protocol: chat\r\n") + server_frames["hello"]),
                f.events(),
                f.reply(),
                f.feed(server_frames["ping-between-fragments"]),
                f.events(),
                f.send("ping", b"are you there"),
                f.feed(server_frames["pong-close"]),
                f.events(),
                f.data_to_send(),
            ]
        ),
        "client-rejected": cfg(1, 3 | 0x08)
        + f.encode_records(
            [
                f.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nno"),
                f.events(),
                f.feed(b"pe!"),
                f.events(),
                f.send("text", b"too late"),
            ]
        ),
        "bare-server": cfg(2 | 6 << 3, 0x04 | 0x10)
        + f.encode_records(
            [
                f.feed(client_frames["rsv1-text"] + client_frames["extension-asks"]),
                f.events(),
                f.feed(client_frames["binary-256"]),
                f.events(),
                f.send("text_fragment", b"a"),
                f.send("ping", b"p"),
                f.send("text", b"b"),
                f.feed(client_frames["close-empty"]),
                f.events(),
                f.reply(),
            ]
        ),
        "bare-client-eof": cfg(1 | 4, 0x04)
        + f.encode_records(
            [f.feed(server_frames["fragmented-hello"]), f.eof(), f.events(), f.send("text")]
        ),
        "bare-client-size": cfg(1 | 2 | 3 << 3, 0x04)
        + f.encode_records([f.feed(server_frames["binary-256"]), f.events(), f.data_to_send()]),
    }
    out["deflate"] = deflate_seeds()
    return out


# RFC 7692 §7.2.3's examples, byte for byte: "Hello" compressed; the same again with the
# first one's context; as a stored block; with BFINAL set and the 0x00 that may follow.
HELLO = b"\xf2\x48\xcd\xc9\xc9\x07\x00"
HELLO_AGAIN = b"\xf2\x00\x11\x00\x00"
HELLO_STORED = b"\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00"
HELLO_FINAL = b"\xf3\x48\xcd\xc9\xc9\x07\x00\x00"


def deflate_seeds() -> dict[str, bytes]:
    """Seeds for the deflate harness: config byte 0 is role (1 = client), auto_reply (2),
    whole_messages (4), message limit (3-5: 3 = 1000, 5 = 65536), the Extension hooks
    (0x40), stored blocks out (0x80); byte 1 the negotiation (fuzz/deflate_oracle.py)."""
    f = formats
    c = build_frame

    def mk(key: "bytes | None") -> "dict[str, bytes]":
        bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb_wire = (bomb.compress(bytes(1 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH))[:-4]
        text = zlib.compressobj(6, zlib.DEFLATED, -15)
        long_wire = text.compress(b"the quick brown fox " * 20) + text.flush(zlib.Z_SYNC_FLUSH)
        return {
            "rfc-messages": c(1, HELLO, True, 4, key)
            + c(1, HELLO_AGAIN, True, 4, key)
            + c(2, HELLO_STORED, True, 4, key)
            + c(1, HELLO_FINAL, True, 4, key)
            + c(2, b"plain", True, 0, key),
            "fragmented": c(1, HELLO[:3], False, 4, key)
            + c(9, b"ping", True, 0, key)
            + c(0, HELLO[3:], True, 0, key)
            + c(2, b"", True, 4, key),
            "bomb": c(2, bomb_wire, True, 4, key),
            "truncated-block": c(1, long_wire[: len(long_wire) // 2], True, 4, key),
            "rsv1-continuation": c(1, HELLO[:3], False, 4, key) + c(0, HELLO[3:], True, 4, key),
            "garbage": c(2, b"\xff\xfe\xfd", True, 4, key),
        }

    masked = mk(KEY)
    unmasked = mk(None)
    return {
        "server-echo": cfg(2 | 5 << 3, 0)
        + f.encode_records(
            [
                f.feed(masked["rfc-messages"][:13]),
                f.events(),
                f.reply(),
                f.feed_split(masked["rfc-messages"][13:], 5),
                f.events(),
                f.data_to_send(),
                f.feed(masked["fragmented"]),
                f.events(),
                f.send("close", b"\x03\xe8"),
            ]
        ),
        "client-no-context-takeover": cfg(1 | 4 | 5 << 3 | 0x40, 0x01 | 0x02 | 1 << 2 | 2 << 4)
        + f.encode_records(
            [
                f.send("text_fragment", b"Hel"),
                f.send("ping", b"p"),
                f.send("text", b"lo"),
                f.send("bytes", b"Hello" * 30),
                f.send("bytes", b"Hello" * 30),
                f.feed(unmasked["fragmented"]),
                f.events(1),
                f.events(),
                f.eof(),
                f.events(),
            ]
        ),
        "server-stored-out": cfg(0x80 | 5 << 3, 0x40 | 3 << 2)
        + f.encode_records(
            [f.feed(masked["rfc-messages"]), f.events(), f.send("text", "héllo".encode() * 9)]
        ),
        "bomb": cfg(2 | 4 | 3 << 3, 0) + f.encode_records([f.feed(masked["bomb"]), f.events()]),
        "client-bomb": cfg(1 | 2 | 3 << 3 | 0x40, 0)
        + f.encode_records([f.feed_split(unmasked["bomb"], 100), f.events(), f.data_to_send()]),
        "truncated-block": cfg(2 | 5 << 3, 0)
        + f.encode_records([f.feed(masked["truncated-block"]), f.events(), f.data_to_send()]),
        "rsv1-continuation": cfg(2 | 5 << 3, 0)
        + f.encode_records([f.feed(masked["rsv1-continuation"]), f.events()]),
        "garbage": cfg(1 | 2 | 5 << 3, 0)
        + f.encode_records([f.feed(unmasked["garbage"]), f.events(), f.data_to_send()]),
    }


def main() -> None:
    check_only = "--check" in sys.argv[1:]
    stale = []
    for harness, files in seeds().items():
        folder = CORPUS / harness
        present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        for name, data in files.items():
            path = folder / name
            if not path.is_file() or path.read_bytes() != data:
                stale.append(str(path))
                if not check_only:
                    folder.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
        for extra in sorted(present - set(files)):
            stale.append(str(folder / extra))
            if not check_only:
                (folder / extra).unlink()
    if check_only and stale:
        sys.exit(
            "fuzz/corpus is out of date; run python fuzz/make_corpus.py:\n  " + "\n  ".join(stale)
        )
    total = sum(len(files) for files in seeds().values())
    print(
        "%d seeds in %s (%d written or removed)" % (total, CORPUS, 0 if check_only else len(stale))
    )


if __name__ == "__main__":
    main()
