"""The control channel of the MicroPython echo servers: lines on stdin, answers on stdout.

    mem        gc.collect(), then "MEM <gc.mem_alloc()> <gc.mem_free()>"
    release    end the handlers parked on /idle (they return, the connections close)
    quit       stop the server (EOF on stdin does too)

Runs as one asyncio task beside the server; imports nothing of the libraries measured.
"""

import asyncio
import gc
import sys


class Idle:
    # The /idle handlers wait on this event; `release` sets it and makes a new one.
    event = asyncio.Event()


async def idle_wait():
    await Idle.event.wait()


def answer(line):
    sys.stdout.write(line + "\n")
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


async def control(stop):
    reader = asyncio.StreamReader(sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        command = line.strip()
        if command == b"mem":
            gc.collect()
            gc.collect()
            answer("MEM %d %d" % (gc.mem_alloc(), gc.mem_free()))
        elif command == b"release":
            old = Idle.event
            Idle.event = asyncio.Event()
            old.set()
            answer("OK")
        elif command == b"quit":
            break
        else:
            answer("ERR %s" % command)
    stop.set()
