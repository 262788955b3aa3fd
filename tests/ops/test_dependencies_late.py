"""Crash-loop safety: every service starts with its dependency absent, says so in its
readiness, and becomes ready by itself once the dependency comes up -- no restart."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from sim.local_servers import mosquitto, redis_server
from tests.edge.daemon_proc import REPO, start_daemon
from tests.servers import free_port, wait_for_port, wait_until


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_edge_starts_without_broker_and_redis_and_recovers(tmp_path: Path) -> None:
    mqtt_port, redis_port = free_port(), free_port()
    extra = f"""\
redis: {{url: "redis://127.0.0.1:{redis_port}/0"}}
connections:
  broker:
    mqtt: {{url: "mqtt://127.0.0.1:{mqtt_port}", client_id: late-test}}
sensors:
  - {{id: f1.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: lab/f1, value: t}}}}
"""
    daemon = start_daemon(tmp_path, extra)
    try:
        ready = httpx.get(f"{daemon.url}/readyz", timeout=5)
        assert ready.status_code == 503
        components = ready.json()["components"]
        assert not components["driver:broker"]["ready"]
        assert not components["redis"]["ready"]
        (tmp_path / "mq").mkdir()
        (tmp_path / "rd").mkdir()
        with (
            mosquitto(tmp_path / "mq", port=mqtt_port),
            redis_server(tmp_path / "rd", port=redis_port),
        ):
            wait_until(lambda: status(f"{daemon.url}/readyz") == 200, timeout=60)
        assert daemon.proc.poll() is None, "the daemon must not have restarted"
    finally:
        assert daemon.stop() == 0


@contextlib.contextmanager
def late_tcp_proxy(listen_port: int, target_port: int) -> Iterator[threading.Event]:
    """A loopback TCP forwarder that starts listening only when the event is set: a real
    PostgreSQL that 'comes up later' on `listen_port`."""
    go = threading.Event()
    stop = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve() -> None:
        await asyncio.to_thread(go.wait)
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    try:
        yield go
    finally:
        stop.set()
        go.set()
        thread.join(timeout=5)


def test_central_starts_without_its_database_and_recovers(
    tmp_path: Path, postgres_url: str
) -> None:
    db_port, port = free_port(), free_port()
    url = postgres_url.replace(":5432/", f":{db_port}/")
    with (tmp_path / "central.log").open("w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "central", "--db", url, "--listen", f"127.0.0.1:{port}"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    with late_tcp_proxy(db_port, 5432) as database_up:
        try:
            wait_for_port(port, timeout=30)
            assert status(f"http://127.0.0.1:{port}/healthz") == 200
            assert status(f"http://127.0.0.1:{port}/readyz") == 503
            database_up.set()
            wait_until(lambda: status(f"http://127.0.0.1:{port}/readyz") == 200, timeout=60)
            assert proc.poll() is None
        finally:
            # Stop central while its database is still reachable through the proxy.
            proc.terminate()
            proc.wait(timeout=30)


def test_analytics_starts_without_redis_and_recovers(tmp_path: Path) -> None:
    redis_port, port = free_port(), free_port()
    with (tmp_path / "analytics.log").open("w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge",
                "analytics",
                "--redis",
                f"redis://127.0.0.1:{redis_port}/0",
                "--listen",
                f"127.0.0.1:{port}",
                "--instance",
                "late",
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=30)
        assert status(f"http://127.0.0.1:{port}/healthz") == 200
        assert status(f"http://127.0.0.1:{port}/readyz") == 503
        (tmp_path / "rd").mkdir()
        with redis_server(tmp_path / "rd", port=redis_port):
            wait_until(lambda: status(f"http://127.0.0.1:{port}/readyz") == 200, timeout=60)
            assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=15)
