"""The simulator's MQTT output, received by a real private mosquitto broker."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sim import SimOptions, parse_event, run_simulator
from sim.fleet import Fleet
from sim.payloads import MqttTelemetry, tasmota, vendor, zigbee2mqtt
from tests.servers import Server, wait_until


class Collector:
    """A plain paho subscriber on '#' that keeps every message it gets."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sim-test-collector")
        client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        assert self._subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector(mosquitto: Server) -> Iterator[Collector]:
    c = Collector(mosquitto.port)
    yield c
    c.close()


def _run(options: SimOptions) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with run_simulator(options) as sim:
            await sim.wait()
        return sim.stats()

    return asyncio.run(go())


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_payload_shapes_are_the_contract_examples_byte_for_byte() -> None:
    assert zigbee2mqtt(-19.6, 41.5, 97, 132) == (
        b'{"battery":97,"humidity":41.5,"linkquality":132,"temperature":-19.6,"voltage":2985}'
    )
    assert tasmota(37.1, 1795514400.9, "0316A27962FF") == (
        b'{"Time":"2026-11-24T10:00:00","DS18B20":{"Id":"0316A27962FF","Temperature":37.1},'
        b'"TempUnit":"C"}'
    )
    assert vendor(-80.2, False, 1732442400123) == (
        b'{"ts":1732442400123,"temp_c":-80.2,"door":"closed"}'
    )


def test_sensor_times_stay_unique_at_high_rates() -> None:
    telemetry = MqttTelemetry(Fleet(seed=1, ult_count=2))
    stamp = 1795514400.0
    first = telemetry.messages(stamp)
    again = telemetry.messages(stamp)  # the same millisecond, the same second
    assert [m.topic for m in first] == [
        "lab3/ult/F01/telemetry", "lab3/ult/F02/telemetry", "zigbee2mqtt/freezer-20a",
        "tele/incubator-3/SENSOR",
    ]  # fmt: skip
    assert "tele/incubator-3/SENSOR" not in [m.topic for m in again]  # Time would repeat
    ts = [json.loads(m.payload)["ts"] for m in (first[0], again[0])]
    assert ts == [1795514400000, 1795514400001]


def test_simulator_publishes_the_three_contract_shapes(
    mosquitto: Server, collector: Collector, tmp_path: Path
) -> None:
    record = tmp_path / "sent.jsonl"
    options = SimOptions(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", modbus_port=None, pty_dir=None,
        ult_count=3, speed=60.0, rate=10.0, duration=60.0, record=record,
    )  # fmt: skip
    started = time.time()
    stats = _run(options)
    assert stats["mqtt_acked"] == stats["mqtt_published"] > 0
    wait_until(lambda: len(collector.messages) >= stats["mqtt_published"])

    zigbee = [json.loads(p) for p in collector.on("zigbee2mqtt/freezer-20a")]
    assert len(zigbee) == 11  # the initial state + one per tick
    for z in zigbee:
        assert list(z) == ["battery", "humidity", "linkquality", "temperature", "voltage"]
        assert isinstance(z["battery"], int) and isinstance(z["linkquality"], int)
        assert isinstance(z["humidity"], float) and -23.0 < z["temperature"] < -17.0

    tasmota_msgs = [json.loads(p) for p in collector.on("tele/incubator-3/SENSOR")]
    assert tasmota_msgs
    for t in tasmota_msgs:
        assert list(t) == ["Time", "DS18B20", "TempUnit"] and t["TempUnit"] == "C"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t["Time"])
        assert list(t["DS18B20"]) == ["Id", "Temperature"]
        assert 36.5 < t["DS18B20"]["Temperature"] < 37.5

    for name in ("F01", "F02", "F03"):
        ults = [json.loads(p) for p in collector.on(f"lab3/ult/{name}/telemetry")]
        assert len(ults) == 11
        for u in ults:
            assert list(u) == ["ts", "temp_c", "door"] and u["door"] == "closed"
            assert abs(u["ts"] / 1000 - started) < 30 and -83 < u["temp_c"] < -77
        assert len({u["ts"] for u in ults}) == 11

    # The record holds exactly what the broker got: sensor id, sensor time, value.
    sent = _records(record)
    recorded = {(r["sensor"], r["time"], r["value"]) for r in sent if r["sensor"] == "ult-F02.temp"}
    received = {
        (u["ts"], u["temp_c"]) for u in map(json.loads, collector.on("lab3/ult/F02/telemetry"))
    }
    assert {(ts, v) for _, ts, v in recorded} == {
        (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000)) + f".{ts % 1000:03d}Z", v)
        for ts, v in received
    }
    assert sum(1 for r in sent if r["sensor"] == "freezer-20a.humidity") == 11
    assert all(r["via"] == "mqtt" for r in sent)


def test_dropout_silences_a_freezer_and_garbage_is_junk_not_recorded(
    mosquitto: Server, collector: Collector, tmp_path: Path
) -> None:
    record = tmp_path / "sent.jsonl"
    options = SimOptions(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", modbus_port=None, pty_dir=None,
        ult_count=3, speed=60.0, rate=10.0, duration=60.0, record=record,
        events=[parse_event("dropout:F01@12s:30s"), parse_event("garbage:F02@30s")],
    )  # fmt: skip
    stats = _run(options)
    wait_until(lambda: len(collector.messages) >= stats["mqtt_published"])
    assert len(collector.on("lab3/ult/F01/telemetry")) == 11 - 5  # ticks at 12..36 s silent
    f02 = collector.on("lab3/ult/F02/telemetry")
    junk = [p for p in f02 if not p.startswith(b"{")]
    assert len(junk) == 1 and len(f02) == 11
    with pytest.raises(UnicodeDecodeError):
        junk[0].decode()
    sent = _records(record)
    assert sum(1 for r in sent if r["sensor"] == "ult-F02.temp") == 10
    assert sum(1 for r in sent if r["sensor"] == "ult-F01.temp") == 6


def test_clock_sim_stamps_payloads_in_simulated_time(
    mosquitto: Server, collector: Collector
) -> None:
    start = 1795514400.0  # 2026-11-24T10:00:00Z
    options = SimOptions(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", modbus_port=None, pty_dir=None,
        ult_count=1, speed=600.0, rate=10.0, duration=600.0, clock="sim", start=start,
    )  # fmt: skip
    stats = _run(options)
    wait_until(lambda: len(collector.messages) >= stats["mqtt_published"])
    ts = [json.loads(p)["ts"] for p in collector.on("lab3/ult/F01/telemetry")]
    assert ts == [int(start * 1000) + i * 60_000 for i in range(11)]
    times = [json.loads(p)["Time"] for p in collector.on("tele/incubator-3/SENSOR")]
    assert times[0] == "2026-11-24T10:00:00" and times[-1] == "2026-11-24T10:10:00"


def test_broker_restart_mid_run_is_survived_and_every_reading_acknowledged(
    mosquitto: Server, tmp_path: Path
) -> None:
    record = tmp_path / "sent.jsonl"
    options = SimOptions(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", modbus_port=None, pty_dir=None,
        ult_count=2, speed=1.0, rate=10.0, duration=4.0, record=record,
    )  # fmt: skip

    async def go() -> dict[str, Any]:
        async with run_simulator(options) as sim:
            assert sim.mqtt is not None
            await asyncio.to_thread(sim.mqtt.connected.wait, 10)
            await sim.until(0.5)
            await asyncio.to_thread(mosquitto.restart)
            await asyncio.to_thread(sim.mqtt.connected.wait, 10)  # reconnected by itself
            await sim.wait()
        return sim.stats()

    stats = asyncio.run(go())
    assert stats["mqtt_published"] == stats["mqtt_acked"] > 0
    assert len(_records(record)) == stats["mqtt_acked"] + 41  # + freezer-20a humidity
