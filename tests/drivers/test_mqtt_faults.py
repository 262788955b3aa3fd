"""Fault tests of the MQTT driver against a real mosquitto: broker restarts with and without
persistence, and malformed input arriving over the wire."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from prometheus_client import REGISTRY

from drivers.base import Committed, Reading, Reject
from edge.pipeline import Pipeline
from runtime.health import Health
from tests import servers
from tests.drivers.mqtt_support import (
    contract_sensors,
    publish_all,
    publisher,
    running,
    settings,
    until,
)
from tests.drivers.test_payload import MALFORMED, extra_sensors
from tests.servers import Server, wait_until


def _ult(i: int) -> tuple[str, bytes]:
    payload = orjson.dumps({"ts": 1_767_225_600_000 + i, "temp_c": -80.0 + (i % 10) / 10})
    return f"lab3/ult/F{i % 7}/telemetry", payload


def _publish_through_restart(client: paho.Client, numbers: list[int]) -> None:
    """Publish each message until the broker acknowledges it (again after its restart;
    a message sent twice is kept once by the log)."""
    deadline = time.monotonic() + 60
    todo = numbers
    while todo:
        assert time.monotonic() < deadline, f"{len(todo)} messages never acknowledged"
        sent = [(i, client.publish(*_ult(i), qos=1)) for i in todo]
        todo = []
        for i, info in sent:
            try:
                info.wait_for_publish(10)
                published = info.is_published()
            except (RuntimeError, ValueError):  # not connected while the broker restarts
                published = False
            if not published:
                todo.append(i)
        if todo:
            wait_until(client.is_connected, 30)


def _reconnected(health: Health) -> bool:
    return health.state == "connected" and health.counters["reconnects"] >= 1


def test_broker_restart_mid_stream_recovers_by_itself(mosquitto: Server, tmp_path: Path) -> None:
    total = 3000

    async def scenario() -> None:
        async with running(tmp_path, settings(mosquitto.port), contract_sensors()) as run:
            with publisher(mosquitto.port) as pub:
                first = threading.Thread(
                    target=_publish_through_restart, args=(pub, list(range(total // 2)))
                )
                first.start()
                await until(lambda: run.count() >= 200)
                await asyncio.to_thread(mosquitto.restart)  # mid-stream
                first.join()
                await until(lambda: _reconnected(run.driver.health()), 30)
                await asyncio.to_thread(
                    _publish_through_restart, pub, list(range(total // 2, total))
                )
                try:
                    await until(lambda: run.count() == total, 20)
                except TimeoutError:
                    got = {t for _, t, _ in run.rows()}
                    missing = sorted(
                        i for i in range(total) if (1_767_225_600_000 + i) / 1000 not in got
                    )
                    print("COUNT", run.count(), "missing", len(missing), missing[:20], missing[-5:])
                    print(run.driver.health())
                    raise
            health = run.driver.health()
            assert health.counters["reconnects"] >= 1
            times = {time for _, time, _ in run.rows()}
        assert len(times) == total  # every reading once (redeliveries de-duplicated)
        reconnects = REGISTRY.get_sample_value(
            "tracseq_mqtt_reconnects_total", {"connection": "lab-broker"}
        )
        assert reconnects is not None and reconnects >= 1

    asyncio.run(scenario())


def test_broker_without_persistence_is_subscribed_again(tmp_path: Path) -> None:
    """A restarted broker that forgot our session must not leave us deaf."""
    (tmp_path / "broker").mkdir()
    with servers.mosquitto(tmp_path / "broker", persistence=False) as broker:

        async def scenario() -> None:
            async with running(tmp_path, settings(broker.port), contract_sensors()) as run:
                with publisher(broker.port) as pub:
                    publish_all(pub, [_ult(0)])
                await until(lambda: run.count() == 1)
                await asyncio.to_thread(broker.restart)
                await until(lambda: _reconnected(run.driver.health()), 30)
                assert "session=new" in run.driver.health().detail
                with publisher(broker.port) as pub:
                    publish_all(pub, [_ult(1)])
                await until(lambda: run.count() == 2, 30)

        asyncio.run(scenario())


def test_broker_down_at_start_is_retried_and_shown_in_health(tmp_path: Path) -> None:
    port = servers.free_port()

    async def scenario() -> None:
        from drivers.mqtt import MqttDriver
        from edge.log import DurableLog
        from edge.pipeline import Pipeline
        from runtime.clock import SystemClock

        log = DurableLog.open(tmp_path / "log.sqlite")
        driver = MqttDriver("lab-broker", settings(port), contract_sensors(), SystemClock())
        task = asyncio.create_task(driver.run(Pipeline(log)))
        try:
            await until(lambda: driver.health().state == "disconnected")
            assert f"mqtt://127.0.0.1:{port}" in driver.health().detail
            (tmp_path / "broker").mkdir()
            broker = servers.Server(  # a broker that appears later on the same port
                [servers._binary("mosquitto"), "-p", str(port)],
                port,
                tmp_path / "broker",
                tmp_path / "broker" / "log",
            )
            await asyncio.to_thread(broker.start)
            try:
                await until(lambda: driver.health().state == "connected", 40)
            finally:
                broker.stop()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await log.close()

    asyncio.run(scenario())


def test_malformed_input_over_the_wire_is_kept_acked_and_never_crashes(
    mosquitto: Server, tmp_path: Path
) -> None:
    sensors = contract_sensors() + extra_sensors()
    subscriptions = sorted({s.source.subscription for s in sensors})  # type: ignore[union-attr]
    delivered = [
        (topic, payload, reason)
        for topic, payload, reason in MALFORMED
        if any(paho.topic_matches_sub(sub, topic) for sub in subscriptions)
    ]
    assert len(delivered) >= 50

    async def scenario() -> None:
        async with running(tmp_path, settings(mosquitto.port), sensors) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(pub, [(t, p) for t, p, _ in delivered] + [_ult(1)])
            await until(lambda: len(run.rejects()) == len(delivered) and run.count() == 1)
            await until(lambda: run.driver.health().counters["unacked"] == 0)
            assert run.driver.health().state == "connected"
            rejects = run.rejects()
        for (topic, payload, reason), (source, got, kept) in zip(delivered, rejects, strict=True):
            assert source == f"mqtt:{topic}"
            assert reason in got
            assert kept == (payload[:1024] if len(payload) > 65536 else payload)

    asyncio.run(scenario())


def test_a_failed_commit_is_not_acked_and_is_delivered_again(
    mosquitto: Server, tmp_path: Path
) -> None:
    class FailingOnce:
        """The real pipeline, but the first commit report says it failed."""

        def __init__(self, pipeline: Pipeline) -> None:
            self.pipeline = pipeline
            self.failed = False

        def submit(
            self,
            readings: Sequence[Reading],
            rejects: Sequence[Reject] = (),
            on_commit: Committed | None = None,
            *,
            urgent: bool = False,
            unavailable: Sequence[str] = (),
        ) -> None:
            def report(ok: bool) -> None:
                if on_commit is not None:
                    on_commit(ok and self.failed)
                self.failed = True

            self.pipeline.submit(readings, rejects, report, urgent=urgent, unavailable=unavailable)

        async def put(self, readings: Sequence[Reading], rejects: Sequence[Reject] = ()) -> None:
            await self.pipeline.put(readings, rejects)

    async def scenario() -> None:
        async with running(
            tmp_path, settings(mosquitto.port), contract_sensors(), sink=FailingOnce
        ) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(pub, [_ult(0)])
            await until(lambda: run.driver.health().counters["reconnects"] >= 1)
            await until(lambda: run.driver.health().counters["messages"] >= 2)  # again
            await until(lambda: run.driver.health().counters["unacked"] == 0)
            assert run.count() == 1

    asyncio.run(scenario())
