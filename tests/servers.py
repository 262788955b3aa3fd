"""Real servers for tests (see sim/local_servers.py) and waiting for conditions."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
    "amqtt",
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


@contextlib.contextmanager
def amqtt(workdir: Path, *, port: int | None = None) -> Iterator[Server]:
    """An amqtt broker (asyncio, speaks only MQTT 3.1.1) as its own process.

    Any client with a user name is let in; amqtt keeps sessions only for those (it drops an
    anonymous client's session, and with it the messages queued for it, at disconnect).
    """
    port = port or free_port()
    conf = workdir / "amqtt.yaml"
    conf.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: false\n"
        # Every packet in and out at debug level: tests read the PUBACKs the broker got.
        "  amqtt.plugins.logging_amqtt.PacketLoggerPlugin:\n"
    )
    script = "from amqtt.scripts.broker_script import main; main()"
    argv = [sys.executable, "-c", script, "-c", str(conf), "-d"]
    server = Server(argv, port, workdir, workdir / "amqtt.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
