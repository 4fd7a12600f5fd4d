"""Microdot's echo server on MicroPython: a @with_websocket route, for micropython_unix.py.

    micropython microdot_echo.py PORT [microdot|ours]
        (MICROPYPATH: Microdot's package folder, the repository root, this folder, and
         MicroPython's asyncio)

`microdot` (the default) uses microdot.websocket.with_websocket; `ours` the same app with
transports.uasyncio.with_websocket instead. /echo: receive() and send() back; /idle: upgrade,
then wait for `release` on the control channel (_control.py). Prints "READY ..." when
listening.

Microdot's handshake needs hashlib.sha1. Where the port has none (the unix port built
without TLS), sys.modules["hashlib"] gets a stand-in whose sha1 is wsproto_lite._sha1
(pure Python, one call per handshake); the READY line says so.
"""

import asyncio
import sys

import _control
from sha1_shim import install_sha1  # tests/micropython/, on MICROPYPATH

SHA1 = "shim(wsproto_lite._sha1)" if install_sha1() else "hashlib"
LIB = sys.argv[2] if len(sys.argv) > 2 else "microdot"

from microdot import Microdot  # noqa: E402

if LIB == "ours":
    from transports.uasyncio import with_websocket
    from wsproto_lite import frames

    MASK = "viper" if frames.SPEEDUPS else "pure"
else:
    from microdot.websocket import with_websocket

    MASK = "per-byte generator"

app = Microdot()


@app.route("/echo")
@with_websocket
async def echo(request, ws):
    while True:
        await ws.send(await ws.receive())


@app.route("/idle")
@with_websocket
async def idle(request, ws):
    await _control.idle_wait()


async def main(port):
    stop = asyncio.Event()
    server = asyncio.create_task(app.start_server(host="127.0.0.1", port=port))
    for _ in range(1000):  # bounded: the server is listening once app.server exists
        if getattr(app, "server", None) is not None:
            break
        await asyncio.sleep_ms(5)
    _control.answer("READY port=%d lib=%s mask=%s sha1=%s" % (port, LIB, MASK, SHA1))
    task = asyncio.create_task(_control.control(stop))
    await stop.wait()
    app.shutdown()
    task.cancel()
    try:
        await asyncio.wait_for(server, 2)
    except Exception:
        pass


asyncio.run(main(int(sys.argv[1])))
