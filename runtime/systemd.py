"""systemd integration: sd_notify (READY=1, STOPPING=1, STATUS=...) and the watchdog.

Does nothing when not started by systemd (NOTIFY_SOCKET unset). The watchdog ping is sent
from the event loop, so a hung loop stops the pings and systemd restarts the service; with
an `alive` check (the daemon's HTTP self-probe of /healthz) a listener that stopped
answering stops them too.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable

from runtime.clock import Clock

log = logging.getLogger("tracseq.systemd")

RETRY_S = 0.5  # how soon a failed `alive` check is repeated (well inside WatchdogSec/2)


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


async def watchdog_loop(
    clock: Clock, interval: float, alive: Callable[[], Awaitable[bool]] | None = None
) -> None:
    """Ping the watchdog from the event loop until cancelled, only while `alive()` holds."""
    healthy = True
    while True:
        if alive is None or await alive():
            notify("WATCHDOG=1")
            if not healthy:
                log.info("watchdog: the service answers again; pinging systemd")
                healthy = True
            await clock.sleep(interval)
            continue
        if healthy:
            log.warning("watchdog: the service does not answer its own probe; not pinging systemd")
            healthy = False
        await clock.sleep(min(interval, RETRY_S))
