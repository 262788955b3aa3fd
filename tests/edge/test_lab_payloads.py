"""The daemon with a real mosquitto and mosquitto_pub: a Tasmota probe set to °F is stored
in °C without a false alarm, and a Home Assistant sensor that keeps saying `unavailable`
still goes offline."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from runtime import events
from tests.drivers.mqtt_support import mosquitto_pub
from tests.edge.daemon_proc import start_daemon
from tests.servers import Server, wait_until

SENSORS = """
connections:
  broker:
    mqtt: {{url: 'mqtt://127.0.0.1:{port}', client_id: gw-lab-payloads}}
sensors:
  - id: fridge-3.temp
    kind: fridge
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: tele/fridge-3/SENSOR, value: DS18B20.Temperature,
             time: Time, wire_unit_path: TempUnit}}
    alarms:
      high: {{above: 8, for: 0s, clear_below: 7.5}}
  - id: freezer-b.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: homeassistant/sensor/freezer_b_temperature/state}}
    alarms:
      offline: {{after: 2s}}
"""


def entries(data_dir: Path, kind: str) -> list[tuple[str, dict[str, object]]]:
    with sqlite3.connect(data_dir / "log.db") as conn:
        rows = conn.execute("SELECT subject, data FROM entries WHERE type = ? ORDER BY seq", [kind])
        return [(subject, orjson.loads(data)) for subject, data in rows]


def tasmota(fahrenheit: float, seconds_ago: int) -> bytes:
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds_ago)
    now = at.isoformat(timespec="seconds")  # Tasmota's Time: local, no zone, whole seconds
    return orjson.dumps(
        {"Time": now, "DS18B20": {"Id": "0316A27962FF", "Temperature": fahrenheit}, "TempUnit": "F"}
    )


def test_fahrenheit_probe_stored_in_celsius_and_unavailable_sensor_goes_offline(
    mosquitto: Server, tmp_path: Path
) -> None:
    daemon = start_daemon(tmp_path, SENSORS.format(port=mosquitto.port))
    var = tmp_path / "var"
    try:
        wait_until(lambda: "MQTT broker connected" in daemon.stderr(), timeout=15)
        mosquitto_pub(mosquitto.port, "tele/fridge-3/SENSOR", tasmota(39.9, 2))
        mosquitto_pub(mosquitto.port, "tele/fridge-3/SENSOR", tasmota(50.0, 1))  # 10 °C: warm
        ha = "homeassistant/sensor/freezer_b_temperature/state"
        mosquitto_pub(mosquitto.port, ha, b"-19.6")
        mosquitto_pub(mosquitto.port, ha, b"unavailable")

        def raised() -> list[tuple[str, dict[str, object]]]:
            return entries(var, events.ALARM_RAISED)

        wait_until(lambda: any(s == "fridge-3.temp" for s, _ in raised()), timeout=15)

        def offline_while_unavailable() -> bool:
            mosquitto_pub(mosquitto.port, ha, b"unavailable")
            return any(s == "freezer-b.temp" and d["rule"] == "offline" for s, d in raised())

        wait_until(offline_while_unavailable, timeout=15, interval=0.2)
        readings = [(s, d["value"]) for s, d in entries(var, events.READING)]
        fridge_alarms = [d for s, d in raised() if s == "fridge-3.temp"]
        with sqlite3.connect(var / "log.db") as conn:
            rejects = conn.execute("SELECT reason FROM rejects").fetchall()
    finally:
        assert daemon.stop() == 0
    assert readings == [
        ("fridge-3.temp", pytest.approx(4.3889, abs=1e-4)),  # 39.9 °F, under the 8 °C limit
        ("fridge-3.temp", pytest.approx(10.0)),
        ("freezer-b.temp", -19.6),
    ]
    assert [(d["rule"], d["value"]) for d in fridge_alarms] == [("high", pytest.approx(10.0))]
    assert rejects == []  # "unavailable" is the sensor's own word, not bad input
