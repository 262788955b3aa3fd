"""systemd `Type=notify` for the central service: READY=1 once listening, watchdog pings.

Does nothing when not started by systemd (NOTIFY_SOCKET unset). The pings come from the
event loop, so a hung loop stops them and systemd restarts the service. (The protocol itself
is edge/systemd.py's, shared by every service.)
"""

from __future__ import annotations

import asyncio
import os
from typing import Protocol

from runtime.heap import freeze_startup_heap
from runtime.systemd import notify, watchdog_interval


class _Server(Protocol):
    started: bool
    should_exit: bool


async def supervise(server: _Server, poll: float = 0.05) -> None:
    """READY=1 once the server listens, watchdog pings while it runs, STOPPING=1 at the end.

    Once listening, the start-up heap is frozen (runtime.heap), with or without systemd."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(poll)
    freeze_startup_heap()
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    notify("READY=1\nSTATUS=listening")
    interval = watchdog_interval()
    loop = asyncio.get_running_loop()
    next_ping = loop.time()
    try:
        while not server.should_exit:
            if interval is not None and loop.time() >= next_ping:
                notify("WATCHDOG=1")
                next_ping = loop.time() + interval
            await asyncio.sleep(poll if interval is None else min(poll * 10, interval))
    finally:
        notify("STOPPING=1")
