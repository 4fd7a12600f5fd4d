"""Adapters that own the I/O and give applications a WebSocket facade.

Import a submodule: transports.asyncio, transports.uasyncio or transports.blocking.
This file stays empty so that importing the package pulls in neither asyncio nor socket.
"""
