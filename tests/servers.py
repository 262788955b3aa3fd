"""Real servers for tests (see sim/local_servers.py) and waiting for conditions."""

from __future__ import annotations

import time

from sim.local_servers import (
    Server,
    _binary,
    free_port,
    mosquitto,
    redis_server,
    wait_for_port,
)

__all__ = [
    "Server",
    "_binary",
    "free_port",
    "mosquitto",
    "redis_server",
    "wait_for_port",
    "wait_until",
]


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait for a condition with a deadline (tests never sleep 'to let things settle')."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s")
