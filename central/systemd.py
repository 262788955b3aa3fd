"""systemd `Type=notify` for the central service: READY=1 once listening, watchdog pings.

Does nothing when not started by systemd (NOTIFY_SOCKET unset). The pings come from the
event loop, so a hung loop stops them and systemd restarts the service. (The same small
protocol as edge/systemd.py; central keeps its own copy so it depends on nothing in `edge`
but the shared modules.)
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Protocol


class _Server(Protocol):
    started: bool
    should_exit: bool


def notify(message: str) -> bool:
    """Send one sd_notify message; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half the WatchdogSec systemd asked for, or None when the watchdog is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


async def supervise(server: _Server, poll: float = 0.05) -> None:
    """READY=1 once the server listens, watchdog pings while it runs, STOPPING=1 at the end."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(poll)
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
