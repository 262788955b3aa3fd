"""MQTT 3.1.1 brokers: amqtt (3.1.1 only) reached by `protocol: auto`, mosquitto forced to 3.1.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.pipeline import Pipeline
from edgeconfig import Mqtt
from runtime.errors import ConfigError
from tests.drivers.mqtt_support import HoldingSink, contract_sensors, running, settings, until
from tests.servers import Server

MESSAGES = [
    ("lab3/ult/F1/telemetry", orjson.dumps({"ts": 1.77e9 + i, "temp_c": -80 + i / 10}))
    for i in range(30)
]


def publish_311(port: int, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    """A 3.1.1 QoS 1 publisher (amqtt takes no other), waiting for every PUBACK."""
    client = paho.Client(CallbackAPIVersion.VERSION2, "test-pub-311", protocol=paho.MQTTv311)
    client.username_pw_set("lab")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def pubacks_from(broker: Server, client_id: str = "tracseq-test") -> int:
    """PUBACKs amqtt received from `client_id` (its packet log)."""
    return broker.log.read_text().count(f"{client_id} <-in-- PubackPacket")


def amqtt_scenario(broker: Server, tmp_path: Path, protocol: str) -> None:
    """Readings arrive; amqtt gets no PUBACK until the commit is reported, then one each;
    what is published while the gateway is away waits in its session."""
    sensors = contract_sensors()
    mqtt = settings(broker.port, protocol=protocol, username="lab")
    forced = settings(broker.port, protocol="3.1.1", username="lab")  # no second v5 attempt

    async def scenario() -> None:
        sinks: list[HoldingSink] = []

        def hold(pipeline: Pipeline) -> HoldingSink:
            sinks.append(HoldingSink(pipeline))
            return sinks[-1]

        async with running(tmp_path, mqtt, sensors, sink=hold) as run:
            assert "mqtt=3.1.1" in run.driver.health().detail
            await asyncio.to_thread(publish_311, broker.port, MESSAGES)
            await until(lambda: run.count() == 30)
            assert run.driver.health().counters["unacked"] == 30  # on disk, not yet told
            assert pubacks_from(broker) == 0
            sinks[0].holding = False
            for committed in sinks[0].held:
                committed(True)
            await until(lambda: pubacks_from(broker) == 30)
            assert run.driver.health().counters["unacked"] == 0
            values = [d["value"] for _, _, d in run.rows()]
        assert values[:3] == [-80.0, -79.9, -79.8]
        # Away: the persistent session (clean session off) keeps what is published meanwhile.
        await asyncio.to_thread(
            publish_311, broker.port, [("lab3/ult/F2/telemetry", b'{"ts": 1.8e9, "temp_c": -79}')]
        )
        async with running(tmp_path, forced, sensors) as again:
            await until(lambda: again.count() == 31)
            await until(lambda: pubacks_from(broker) == 31)

    asyncio.run(scenario())


def test_auto_falls_back_to_3_1_1_on_amqtt_and_acks_after_commit(
    amqtt_broker: Server, tmp_path: Path
) -> None:
    amqtt_scenario(amqtt_broker, tmp_path, "auto")


def test_forced_3_1_1_on_amqtt_acks_after_commit(amqtt_broker: Server, tmp_path: Path) -> None:
    amqtt_scenario(amqtt_broker, tmp_path, "3.1.1")


def test_forced_3_1_1_on_mosquitto_redelivers_what_was_not_acked(
    mosquitto: Server, tmp_path: Path
) -> None:
    sensors = contract_sensors()
    mqtt = settings(mosquitto.port, protocol="3.1.1")

    async def scenario() -> None:
        async with running(tmp_path, mqtt, sensors, sink=HoldingSink) as run:
            assert "mqtt=3.1.1" in run.driver.health().detail
            await asyncio.to_thread(publish_311, mosquitto.port, MESSAGES)
            await until(lambda: run.count() == 30)
            assert run.driver.health().counters["unacked"] == 30  # on disk, not yet told
        async with running(tmp_path, mqtt, sensors) as again:  # same client id: redelivered
            await until(lambda: again.driver.health().counters["messages"] >= 30)
            await until(lambda: again.driver.health().counters["unacked"] == 0)
            assert again.count() == 30  # each reading once
        async with running(tmp_path, mqtt, sensors) as third:  # acked: nothing left
            await asyncio.to_thread(
                publish_311,
                mosquitto.port,
                [("lab3/ult/F2/telemetry", b'{"ts": 1.8e9, "temp_c": -79}')],
            )
            await until(lambda: third.count() == 31)
            assert third.driver.health().counters["messages"] == 1

    asyncio.run(scenario())


def test_3_1_1_marks_retained_replays_into_a_resumed_session_as_possible_duplicates(
    mosquitto: Server, tmp_path: Path
) -> None:
    # 3.1.1 has no Retain Handling: a resumed session's re-subscription hands us the last
    # retained value again. It is kept (it may be news), marked dup like a redelivery.
    mqtt = settings(mosquitto.port, protocol="3.1.1")
    sensors = contract_sensors()

    async def scenario() -> None:
        retained = [("zigbee2mqtt/freezer-20a", b'{"temperature": -19.6}')]
        await asyncio.to_thread(publish_311, mosquitto.port, retained, True)
        async with running(tmp_path, mqtt, sensors) as run:  # new session: the retained value
            await until(lambda: run.count() == 1)
        async with running(tmp_path, mqtt, sensors) as again:  # resumed: replayed, marked
            await asyncio.to_thread(
                publish_311, mosquitto.port, [("zigbee2mqtt/freezer-20a", b'{"temperature": -19}')]
            )
            await until(lambda: again.count() == 3)
            data = [d for _, _, d in again.rows()]
        assert [(d["value"], d.get("dup")) for d in data] == [
            (-19.6, None),
            (-19.6, True),
            (-19.0, None),
        ]

    asyncio.run(scenario())


def test_mqtt_5_still_the_default_on_mosquitto(mosquitto: Server, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, settings(mosquitto.port), contract_sensors()) as run:
            assert "mqtt=5" in run.driver.health().detail

    asyncio.run(scenario())


@pytest.mark.parametrize(("given", "expected"), [(5, "5"), ("3.1.1", "3.1.1"), ("auto", "auto")])
def test_protocol_key_accepts_the_three_spellings(given: object, expected: str) -> None:
    assert Mqtt.model_validate({"url": "mqtt://h", "protocol": given}).protocol == expected


def test_an_unknown_protocol_is_a_config_error_naming_the_choices(tmp_path: Path) -> None:
    from edgeconfig import load_config

    path = tmp_path / "sensors.yaml"
    path.write_text(
        "gateway: {id: gw}\nconnections:\n  b:\n    mqtt: {url: 'mqtt://h', protocol: '3.1'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "connections.b.mqtt.protocol" in str(caught.value)
    assert '"5", "3.1.1" or auto' in str(caught.value)
