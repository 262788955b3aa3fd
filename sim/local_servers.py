"""Private mosquitto and redis-server instances on loopback ports in a directory of ours.

Used by the demo (when no broker/Redis is already running) and by the tests (which never
touch a system broker). Each waits until the server accepts connections; `restart()`
stops and starts the same instance on the same port, for fault tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class Server:
    """A server process of ours on a loopback port."""

    argv: list[str]
    port: int
    workdir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C meant for the demo must not stop the broker before
                # the daemon has flushed.
                start_new_session=True,
            )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"{self.argv[0]} did not start: {self.log.read_text()[-2000:]}"
            ) from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(f"{name} is not installed (the README's test command installs it)")


@contextlib.contextmanager
def mosquitto(
    workdir: Path, *, persistence: bool = True, port: int | None = None
) -> Iterator[Server]:
    """A mosquitto broker with persistence on, on a free port, allowing anonymous clients."""
    port = port or free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        # Started as root, mosquitto drops to user 'mosquitto', which cannot write its
        # persistence file into our temp dir; stay as the user that started it.
        "user root\n"
        f"persistence {'true' if persistence else 'false'}\n"
        f"persistence_location {workdir}/\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 100\n"
        "log_dest stdout\n"
    )
    server = Server(
        [_binary("mosquitto"), "-c", str(conf)], port, workdir, workdir / "mosquitto.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server(
    workdir: Path, *, port: int | None = None, password: str | None = None
) -> Iterator[Server]:
    """A redis-server with no persistence (like the lab's), on a free port."""
    port = port or free_port()
    argv = [
        _binary("redis-server"),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
    ]  # fmt: skip
    if password is not None:
        argv += ["--requirepass", password]
    server = Server(argv, port, workdir, workdir / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
