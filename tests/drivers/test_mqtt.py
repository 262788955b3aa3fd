"""The MQTT driver against a real mosquitto, into a real DurableLog through the Pipeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson

from edge.pipeline import Pipeline
from tests.drivers.mqtt_support import (
    HoldingSink,
    contract_sensors,
    publish_all,
    publisher,
    running,
    settings,
    until,
)
from tests.servers import Server


def test_contract_payload_shapes_decode_to_exact_values(mosquitto: Server, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, settings(mosquitto.port), contract_sensors()) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(
                    pub,
                    [
                        (
                            "zigbee2mqtt/freezer-20a",
                            b'{"battery":97,"humidity":41.5,"linkquality":132,'
                            b'"temperature":-19.6,"voltage":2985}',
                        ),
                        (
                            "tele/incubator-3/SENSOR",
                            b'{"Time":"2026-11-24T10:00:00","DS18B20":{"Id":"0316A27962FF",'
                            b'"Temperature":37.1},"TempUnit":"C"}',
                        ),
                        (
                            "lab3/ult/F12/telemetry",
                            b'{"ts": 1732442400123, "temp_c": -80.2, "door": "closed"}',
                        ),
                    ],
                )
            await until(lambda: run.count() == 3)
            rows = {subject: (time, data) for subject, time, data in run.rows()}
        assert rows["freezer-20a.temp"][1]["value"] == -19.6
        assert rows["freezer-20a.temp"][0] is None  # no time in a Zigbee2MQTT payload
        assert rows["incubator-3.temp"][1]["value"] == 37.1
        # Tasmota's zone-less Time is read in the connection's timezone (UTC by default).
        assert rows["incubator-3.temp"][0] == datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()
        assert rows["ult-F12.temp"][1]["value"] == -80.2
        assert rows["ult-F12.temp"][0] == 1732442400.123  # epoch milliseconds
        assert run.rejects() == []

    asyncio.run(scenario())


def test_one_message_feeds_several_sensors_and_plain_values_decode(
    mosquitto: Server, tmp_path: Path
) -> None:
    base = contract_sensors()[0]
    sensors = [
        base,
        base.model_copy(
            update={
                "id": "freezer-20a.humidity",
                "quantity": "humidity",
                "unit": "percent",
                "source": base.source.model_copy(update={"value": "humidity"}),
            }
        ),
        base.model_copy(
            update={
                "id": "{room}.door",
                "quantity": "door",
                "unit": "open",
                "source": base.source.model_copy(
                    update={"topic": "doors/{room}/state", "value": None}
                ),
            }
        ),
        base.model_copy(
            update={
                "id": "{room}.plain",
                "source": base.source.model_copy(update={"topic": "plain/{room}", "value": None}),
            }
        ),
    ]

    async def scenario() -> None:
        async with running(tmp_path, settings(mosquitto.port), sensors) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(
                    pub,
                    [
                        ("zigbee2mqtt/freezer-20a", b'{"temperature":-19.6,"humidity":41.5}'),
                        ("doors/cold-room-1/state", b"ON"),
                        ("doors/cold-room-2/state", b"closed"),
                        ("doors/cold-room-3/state", b"true"),
                        ("plain/ult-7", b"-80.2"),
                    ],
                )
            await until(lambda: run.count() == 6)
            got = {subject: data["value"] for subject, _, data in run.rows()}
        assert got == {
            "freezer-20a.temp": -19.6,
            "freezer-20a.humidity": 41.5,
            "cold-room-1.door": 1.0,
            "cold-room-2.door": 0.0,
            "cold-room-3.door": 1.0,
            "ult-7.plain": -80.2,
        }

    asyncio.run(scenario())


def test_messages_are_acked_only_after_commit_and_rejects_too(
    mosquitto: Server, tmp_path: Path
) -> None:
    """While the commit is not reported, nothing is acked: a driver stopped then gets every
    message again from its session (the log keeps each reading once); once commits are
    reported (readings and rejects alike), the broker has nothing left for us."""
    sensors = contract_sensors()
    messages = [
        ("lab3/ult/F1/telemetry", orjson.dumps({"ts": 1.77e9 + i, "temp_c": -80}))
        for i in range(50)
    ] + [("lab3/ult/F1/telemetry", b"not json")]

    async def scenario() -> None:
        holding: list[HoldingSink] = []

        def hold(pipeline: Pipeline) -> HoldingSink:
            holding.append(HoldingSink(pipeline))
            return holding[-1]

        async with running(tmp_path, settings(mosquitto.port), sensors, sink=hold) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(pub, messages)
            await until(lambda: run.count() == 50 and len(run.rejects()) == 1)
            assert run.driver.health().counters["unacked"] == 51  # on disk, not yet told
        # Same client id: the broker redelivers all 51; the log keeps each reading once.
        async with running(tmp_path, settings(mosquitto.port), sensors) as again:
            await until(lambda: again.driver.health().counters["messages"] == 51)
            await until(lambda: again.driver.health().counters["unacked"] == 0)
            assert again.count() == 50
            assert len(again.rejects()) == 2  # a reject is data: kept on each delivery
        # Acked after commit: nothing is left in the session.
        async with running(tmp_path, settings(mosquitto.port), sensors) as third:
            with publisher(mosquitto.port) as pub:
                publish_all(pub, [("lab3/ult/F2/telemetry", b'{"ts": 1.8e9, "temp_c": -79}')])
            await until(lambda: third.count() == 51)
            assert third.driver.health().counters["messages"] == 1

    asyncio.run(scenario())


def test_a_full_inflight_window_is_committed_without_waiting_for_the_commit_window(
    mosquitto: Server, tmp_path: Path
) -> None:
    """The broker sends nothing more until we ack, so a batch submitted with the inflight
    window (half) full is never held: with an hour-long commit window and a window of 2,
    every message is committed and acknowledged."""
    messages = [
        ("lab3/ult/F1/telemetry", orjson.dumps({"ts": 1.77e9 + i, "temp_c": -80}))
        for i in range(20)
    ]

    async def scenario() -> None:
        async with running(
            tmp_path,
            settings(mosquitto.port),
            contract_sensors(),
            commit_window=3600.0,
            inflight_window=2,
        ) as run:
            with publisher(mosquitto.port) as pub:
                publish_all(pub, messages)
            await until(lambda: run.count() == 20)
            await until(lambda: run.driver.health().counters["unacked"] == 0)

    asyncio.run(scenario())
