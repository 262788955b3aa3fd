"""Gateway events: started/stopped, heartbeats and sensor descriptions in the log."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.entry import Entry, Stored
from edge.gateway_events import GatewayEvents, package_version
from edge.log import DurableLog
from edgeconfig import Config, load_config
from runtime import events
from runtime.clock import ManualClock
from tests.edge.events_support import eventually, running

CONFIG = """
gateway: {id: lab3-edge-01, site: building-a/lab-3, heartbeat: 60s, data_dir: ./var}
redis: {url: "redis://127.0.0.1:6379/0"}
connections:
  lab-broker: {mqtt: {url: "mqtt://127.0.0.1:1883"}}
sensors:
  - id: freezer-20a.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {connection: lab-broker, topic: zigbee2mqtt/freezer-20a, value: temperature}
    alarms:
      high: {above: -15, for: 10m, clear_below: -17}
      offline: {after: 5m}
  - id: "ult-{freezer}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    site: building-a/ult-room
    source: {connection: lab-broker, topic: "lab3/ult/{freezer}/telemetry", value: temp_c}
    alarms:
      high: {above: -70, for: 5m, clear_below: -72}
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Config:
    path = tmp_path / "sensors.yaml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[DurableLog]:
    the_log = DurableLog.open(tmp_path / "log.db", cursors=("redis",))
    try:
        yield the_log
    finally:
        await the_log.close()


async def of_type(log: DurableLog, type_: str) -> list[Stored]:
    return [s for s in await log.read(0, 10_000) if s.type == type_]


def ult_reading(freezer: str, value: float) -> Entry:
    data = {"value": value, "unit": "degC", "quantity": "temperature", "kind": "freezer"}
    return Entry(events.READING, f"ult-{freezer}.temp", None, 1.8e9, data)


async def test_start_records_started_and_describes_fixed_sensors(
    tmp_path: Path, log: DurableLog
) -> None:
    config = write_config(tmp_path)
    gateway = GatewayEvents(config, log, ManualClock())
    await gateway.start()
    started = await of_type(log, events.GATEWAY_STARTED)
    assert [s.data for s in started] == [
        {"version": package_version(), "config_hash": config.config_hash}
    ]
    described = await of_type(log, events.SENSOR_DESCRIBED)
    assert len(described) == 1  # the templated sensor waits for its first reading
    event = described[0].to_event("lab3-edge-01").to_dict()
    assert event["subject"] == "freezer-20a.temp"
    assert event["data"] == {
        "seq": described[0].seq,
        "kind": "freezer",
        "quantity": "temperature",
        "unit": "degC",
        "site": "building-a/lab-3",
        "protocol": "mqtt",
        "alarms": {
            "high": {"above": -15.0, "for_s": 600.0, "clear_below": -17.0, "priority": "critical"},
            "offline": {"after_s": 300.0, "priority": "critical"},
        },
    }
    with sqlite3.connect(log.path) as conn:
        assert conn.execute("SELECT count(*) FROM entries WHERE keep = 0").fetchone() == (0,)


async def test_templated_sensor_is_described_once_on_its_first_reading(
    tmp_path: Path, log: DurableLog
) -> None:
    config = write_config(tmp_path)
    await GatewayEvents(config, log, ManualClock()).start()
    await log.append([ult_reading("F12", -80.0), ult_reading("F12", -80.1)])
    await log.append([ult_reading("F13", -79.0), ult_reading("F12", -80.2)])
    await eventually(lambda: log.last_seq == 2 + 4 + 2)
    described = await of_type(log, events.SENSOR_DESCRIBED)
    assert [s.subject for s in described] == ["freezer-20a.temp", "ult-F12.temp", "ult-F13.temp"]
    assert described[1].data["site"] == "building-a/ult-room"
    assert described[1].data["template"] == "ult-{freezer}.temp"
    assert described[1].data["alarms"] == {
        "high": {"above": -70.0, "for_s": 300.0, "clear_below": -72.0, "priority": "critical"}
    }
    readings = await of_type(log, events.READING)
    first_f12 = min(s.seq for s in readings if s.subject == "ult-F12.temp")
    assert described[1].seq > first_f12


async def test_restart_does_not_describe_again_unless_the_template_changed(
    tmp_path: Path, log: DurableLog
) -> None:
    config = write_config(tmp_path)
    first = GatewayEvents(config, log, ManualClock())
    await first.start()
    await log.append([ult_reading("F12", -80.0)])
    await eventually(lambda: first.health().counters["described"] == 1)
    await eventually(lambda: log.last_seq == 4)
    await first.stop()

    await GatewayEvents(config, log, ManualClock()).start()  # same config: no new F12
    await log.append([ult_reading("F12", -80.0)])
    changed = write_config(tmp_path, CONFIG.replace("above: -70", "above: -65"))
    await GatewayEvents(changed, log, ManualClock()).start()
    await log.append([ult_reading("F12", -80.0)])
    await eventually(
        lambda: any(
            s.subject == "ult-F12.temp" and s.data["alarms"]["high"]["above"] == -65.0
            for s in log.read_now(0, 100)
            if s.type == events.SENSOR_DESCRIBED
        )
    )
    # read_now, as above: `read` answers from the in-memory tail, which learns of a commit a
    # moment after SQLite has it.
    f12 = [
        s
        for s in log.read_now(0, 100)
        if s.type == events.SENSOR_DESCRIBED and s.subject == "ult-F12.temp"
    ]
    assert [s.data["alarms"]["high"]["above"] for s in f12] == [-70.0, -65.0]


async def test_heartbeat_every_interval_with_uptime_and_pending(
    tmp_path: Path, log: DurableLog
) -> None:
    config = write_config(tmp_path)
    clock = ManualClock()
    gateway = GatewayEvents(config, log, clock)
    async with running(gateway):
        await eventually(lambda: gateway.health().state == "connected")
        clock.advance(59.0)
        clock.advance(1.0)
        await eventually(lambda: gateway.health().counters["heartbeats"] == 1)
        clock.advance(60.0)
        await eventually(lambda: gateway.health().counters["heartbeats"] == 2)
    beats = await of_type(log, events.GATEWAY_HEARTBEAT)
    assert [b.data["uptime_s"] for b in beats] == [60.0, 120.0]
    # Nothing has reached Redis: every event so far is pending, heartbeats included.
    assert beats[0].data["pending"] == 2
    assert beats[1].data["pending"] == 3
    assert beats[0].subject == "lab3-edge-01"


async def test_stop_records_gateway_stopped_last(tmp_path: Path, log: DurableLog) -> None:
    config = write_config(tmp_path)
    gateway = GatewayEvents(config, log, ManualClock())
    await gateway.start()
    await gateway.stop()
    await log.append([ult_reading("F14", -80.0)])  # after stop: no description any more
    stored = await log.read(0, 100)
    assert [s.type for s in stored][-2:] == [events.GATEWAY_STOPPED, events.READING]
    assert stored[-2].data["config_hash"] == config.config_hash
