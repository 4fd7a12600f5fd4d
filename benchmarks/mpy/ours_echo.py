"""wsproto_lite's echo server on MicroPython: transports.uasyncio.serve, for micropython_unix.py.

    micropython ours_echo.py PORT        (MICROPYPATH: the repository root, this folder,
                                          and MicroPython's asyncio)

/echo (any path but /idle): receive() and send() back, until the connection ends.
/idle: accept, then wait for `release` on the control channel (_control.py).
Prints "READY port=... speedups=..." when listening. WSPROTO_LITE_NO_SPEEDUPS=1 in the
environment gives the pure-Python path; the READY line says which ran.
"""

import asyncio
import sys

import _control

from transports.uasyncio import serve
from wsproto_lite import frames


async def handler(request, ws):
    if request.path == "/idle":
        await ws.accept()
        await _control.idle_wait()
        return
    while True:
        await ws.send(await ws.receive())


async def main(port):
    stop = asyncio.Event()
    server = await serve(handler, "127.0.0.1", port)
    # On MicroPython the only accelerator is wsproto_lite._viper (frames._C).
    viper = frames.SPEEDUPS and frames.mask is getattr(frames._C, "mask", None)
    _control.answer(
        "READY port=%d lib=wsproto_lite speedups=%s mask=%s"
        % (port, frames.SPEEDUPS, "viper" if viper else "pure")
    )
    task = asyncio.create_task(_control.control(stop))
    await stop.wait()
    server.close()
    await server.wait_closed()
    task.cancel()


asyncio.run(main(int(sys.argv[1])))
