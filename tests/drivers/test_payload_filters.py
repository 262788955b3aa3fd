"""Payloads from devices labs run, published by mosquitto_pub to a real mosquitto: Shelly's
`events/rpc` (every component's NotifyStatus on one topic), Home Assistant's state topics
(`unavailable`, `unknown`) and a Zigbee2MQTT fleet with buttons beside the thermometers.
What a `when:` condition leaves out is skipped and what says "no value" is counted: neither
is a reject."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from drivers.payload import Decoded, Router, decode
from edgeconfig import Config, parse_config
from runtime.errors import ConfigError
from tests.drivers.mqtt_support import mosquitto_pub, running, until
from tests.servers import Server

SHELLY = "shellyplusht-08b61fcd9a4c/events/rpc"
SENSORS = """\
  - id: incubator-5.temp
    kind: incubator
    quantity: temperature
    unit: degC
    source:
      connection: broker
      topic: shellyplusht-08b61fcd9a4c/events/rpc
      value: "params.temperature:0.tC"
      time: params.ts
      when:
        - {path: method, equals: NotifyStatus}
        - {path: "params.temperature:0.tC"}
  - id: incubator-5.humidity
    kind: incubator
    quantity: humidity
    unit: percent
    source:
      connection: broker
      topic: shellyplusht-08b61fcd9a4c/events/rpc
      value: "params.humidity:0.rh"
      when: [{path: method, equals: NotifyStatus}, {path: "params.humidity:0.rh"}]
  - id: freezer-b.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: homeassistant/sensor/freezer_b_temperature/state}
  - id: "{device}.temp"
    kind: fridge
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: "zigbee2mqtt/{device}", value: temperature,
             when: {path: temperature}}
"""


def config(port: int = 1883, sensors: str = SENSORS) -> Config:
    text = (
        "gateway: {id: gw-test}\nconnections:\n  broker:\n"
        f"    mqtt: {{url: 'mqtt://127.0.0.1:{port}', client_id: tracseq-test}}\n"
        f"sensors:\n{sensors}"
    )
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


def shelly(method: str, params: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "src": "shellyplusht-08b61fcd9a4c",
            "dst": "shellyplusht-08b61fcd9a4c/events",
            "method": method,
            "params": {"ts": 1795514400.25, **params},
        }
    )


def test_lab_device_payloads_skip_and_count_instead_of_rejecting(
    mosquitto: Server, tmp_path: Path
) -> None:
    cfg = config(mosquitto.port)
    mqtt = cfg.connections["broker"].mqtt
    assert mqtt is not None

    async def publish(topic: str, payload: bytes) -> None:
        await asyncio.to_thread(mosquitto_pub, mosquitto.port, topic, payload)

    async def scenario() -> None:
        async with running(tmp_path, mqtt, cfg.sensors) as run:
            health = run.driver.health
            await publish(SHELLY, shelly("NotifyStatus", {"temperature:0": {"id": 0, "tC": 37.1}}))
            await publish(SHELLY, shelly("NotifyStatus", {"humidity:0": {"id": 0, "rh": 45.1}}))
            await publish(SHELLY, shelly("NotifyStatus", {"devicepower:0": {"battery": {"V": 5}}}))
            await publish(SHELLY, shelly("NotifyEvent", {"events": [{"event": "sleep"}]}))
            ha = "homeassistant/sensor/freezer_b_temperature/state"
            await publish(ha, b"unavailable")
            await until(lambda: health().counters["sensors_unavailable"] == 1)
            assert "no value from freezer-b.temp" in health().detail
            await publish(ha, b"unknown")
            await publish(ha, b"-19.6")
            await publish(
                "zigbee2mqtt/fridge-7", b'{"battery":97,"temperature":4.2,"voltage":2985}'
            )
            await publish("zigbee2mqtt/button-1", b'{"action":"single","battery":100}')
            await until(lambda: run.count() == 4 and health().counters["messages"] == 9)
            readings = {subject: data["value"] for subject, _, data in run.rows()}
            counters = health().counters
            assert run.rejects() == []
        assert readings == {
            "incubator-5.temp": 37.1,
            "incubator-5.humidity": 45.1,
            "freezer-b.temp": -19.6,
            "fridge-7.temp": 4.2,
        }
        # Shelly: 2 sensors x 4 messages, each sensor took one; Zigbee2MQTT: the button.
        assert counters["skipped"] == 6 + 1
        assert counters["unavailable"] == 2
        assert counters["sensors_unavailable"] == 0  # a value came after "unknown"

    asyncio.run(scenario())


def decoded(cfg: Config, topic: str, payload: bytes) -> Decoded:
    out = Decoded()
    decode(
        topic,
        payload,
        Router(cfg.sensors).match(topic),
        received=1.8e9,
        dup=False,
        zone=ZoneInfo("UTC"),
        out=out,
    )
    return out


def test_a_message_that_passes_when_with_a_bad_value_is_still_a_reject() -> None:
    out = decoded(config(), SHELLY, shelly("NotifyStatus", {"temperature:0": {"tC": "err"}}))
    assert out.skipped == 1  # the humidity sensor
    assert [r.reason for r in out.rejects] == [
        f"{SHELLY}: field params.temperature:0.tC 'err' is not a number"
    ]


@pytest.mark.parametrize(
    ("condition", "payload", "taken"),
    [
        ("{path: kind, equals: 3}", b'{"kind": 3, "v": 1}', True),
        ("{path: kind, equals: 3}", b'{"kind": "3", "v": 1}', False),
        ("{path: ok, equals: true}", b'{"ok": 1, "v": 1}', False),
        ("{path: ok, equals: true}", b'{"ok": true, "v": 1}', True),
        ("{path: err, present: false}", b'{"v": 1}', True),
        ("{path: err, present: false}", b'{"err": null, "v": 1}', False),
        ("{path: a.b}", b'{"a": {"b": null}, "v": 1}', False),
        ("{path: a.0}", b'{"a": [0], "v": 1}', True),
    ],
)
def test_conditions(condition: str, payload: bytes, taken: bool) -> None:
    cfg = config(
        sensors="  - {id: s.v, kind: room, quantity: temperature, unit: degC,\n"
        f"     source: {{connection: broker, topic: t, value: v, when: {condition}}}}}\n"
    )
    out = decoded(cfg, "t", payload)
    assert (len(out.readings), out.skipped) == ((1, 0) if taken else (0, 1))


def test_no_value_states_are_configurable_and_compared_without_case() -> None:
    cfg = config(
        sensors="  - {id: s.v, kind: room, quantity: temperature, unit: degC,\n"
        "     source: {connection: broker, topic: t, value: v, no_value_states: [OFFLINE]}}\n"
    )
    assert decoded(cfg, "t", b'{"v": "offline"}').unavailable == ["s.v"]
    assert decoded(cfg, "t", b'{"v": "unavailable"}').rejects != []  # not in this list


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("topic: t, when: {path: a}", "when needs source.value"),
        ("topic: t, value: v, when: {path: a, equals: 1, present: false}", "cannot also need"),
        ("topic: t, value: v, when: {equals: 1}", "required key 'path' missing"),
    ],
)
def test_when_mistakes_are_config_errors(source: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(
            sensors="  - {id: s.v, kind: room, quantity: temperature, unit: degC,\n"
            f"     source: {{connection: broker, {source}}}}}\n"
        )
    assert message in str(caught.value)
