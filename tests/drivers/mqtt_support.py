"""Shared set-up for the MQTT driver tests: the contract's sensors on a private broker,
a real DurableLog + Pipeline in a temp dir, and a publisher."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from drivers.base import Committed, Reading, ReadingSink, Reject
from drivers.mqtt import MqttDriver
from edge.log import DEFAULT_COMMIT_WINDOW, DurableLog
from edge.pipeline import Pipeline
from edgeconfig import Mqtt, Sensor, load_config
from runtime.clock import SystemClock
from tests.conftest import CONTRACT_EXAMPLE
from tests.servers import _binary


def contract_sensors() -> list[Sensor]:
    return load_config(CONTRACT_EXAMPLE).sensors_on("lab-broker")


def settings(port: int, client_id: str = "tracseq-test", **extra: object) -> Mqtt:
    return Mqtt.model_validate({"url": f"mqtt://127.0.0.1:{port}", "client_id": client_id, **extra})


@dataclass
class Running:
    driver: MqttDriver
    log: DurableLog
    path: Path

    def rows(self) -> list[tuple[str, float | None, dict[str, object]]]:

        return [(s.subject or "", s.time, s.data) for s in self.log.read_now(0, 1_000_000)]

    def rejects(self) -> list[tuple[str, str, bytes]]:
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            return [
                (source, reason, bytes(payload))
                for source, reason, payload in db.execute(
                    "SELECT source, reason, payload FROM rejects ORDER BY id"
                )
            ]

    def count(self) -> int:
        return self.log.last_seq


class HoldingSink:
    """The real Pipeline, but commit notifications are held back while `holding`:
    the readings are on disk, the driver just has not been told (so it must not ack)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.holding = True
        self.held: list[Committed] = []

    def submit(
        self,
        readings: Sequence[Reading],
        rejects: Sequence[Reject] = (),
        on_commit: Committed | None = None,
        *,
        urgent: bool = False,
        unavailable: Sequence[str] = (),
    ) -> None:
        def later(ok: bool) -> None:
            if self.holding and on_commit is not None:
                self.held.append(on_commit)
            elif on_commit is not None:
                on_commit(ok)

        self.pipeline.submit(readings, rejects, later, urgent=urgent, unavailable=unavailable)

    async def put(self, readings: Sequence[Reading], rejects: Sequence[Reject] = ()) -> None:
        await self.pipeline.put(readings, rejects)


@contextlib.asynccontextmanager
async def running(
    tmp: Path,
    mqtt: Mqtt,
    sensors: list[Sensor],
    name: str = "lab-broker",
    sink: Callable[[Pipeline], ReadingSink] = lambda pipeline: pipeline,
    commit_window: float = DEFAULT_COMMIT_WINDOW,
    inflight_window: int | None = None,
) -> AsyncIterator[Running]:
    """The driver feeding a Pipeline into a DurableLog, connected and subscribed."""
    path = tmp / "log.sqlite"
    log = DurableLog.open(path, commit_window=commit_window)
    driver = MqttDriver(name, mqtt, sensors, SystemClock())
    if inflight_window is not None:
        driver.inflight_window = inflight_window
    task = asyncio.create_task(driver.run(sink(Pipeline(log))))
    try:
        await until(lambda: driver.health().state == "connected", 10)
        yield Running(driver, log, path)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await log.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition with a deadline, without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def publisher(port: int, client_id: str = "test-publisher") -> Iterator[paho.Client]:
    """A QoS 1 publisher with its own network thread; waits for every publish on exit."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(client: paho.Client, messages: list[tuple[str, bytes | str]], qos: int = 1) -> None:
    infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def mosquitto_pub(port: int, topic: str, payload: bytes, *extra: str) -> None:
    """Publish as a lab's scripts do: the mosquitto_pub command, QoS 1."""
    command = [_binary("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), "-q", "1"]
    subprocess.run([*command, *extra, "-t", topic, "-m", payload.decode()], check=True, timeout=10)
