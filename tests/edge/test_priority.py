"""Alarm priority (issue 16 item 2): `priority: critical | warning` per rule, defaulted from
the sensor's kind, carried in alarm.raised / alarm.cleared and in sensor.described."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconfig import AlarmMatch, parse_config
from runtime.errors import ConfigError
from tests.edge.alarm_rig import Rig

CONFIG = """gateway: {id: g}
connections:
  broker: {mqtt: {url: "mqtt://127.0.0.1"}}
sensors:
  - id: ult-1.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: t/1}
    alarms: {high: {above: -70}, rate: {rise_per_minute: 1}, offline: {after: 2m}}
  - id: dewar-1.level
    kind: ln2
    quantity: level
    unit: percent
    source: {connection: broker, topic: t/2}
    alarms: {low: {below: 30, priority: warning}}
  - id: room-1.temp
    kind: room
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: t/3}
    alarms: {high: {above: 25}, low: {below: 15, priority: critical}}
"""


def test_priorities_default_from_the_kind_and_can_be_set_per_rule() -> None:
    config = parse_config(CONFIG, "sensors.yaml", base_dir=Path("."))
    ult, dewar, room = config.sensors
    described = ult.alarms.describe()
    assert {rule: d["priority"] for rule, d in described.items()} == {
        "high": "critical",
        "rate": "warning",
        "offline": "critical",
    }
    assert dewar.alarms.low is not None and dewar.alarms.low.priority == "warning"
    assert room.alarms.high is not None and room.alarms.high.priority == "warning"
    assert room.alarms.low is not None and room.alarms.low.priority == "critical"


def test_an_unknown_priority_is_named_with_file_and_line() -> None:
    bad = CONFIG.replace("priority: warning", "priority: urgent")
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, "sensors.yaml", base_dir=Path("."))
    assert str(caught.value).startswith(
        "sensors.yaml:16:41: sensors[1].alarms.low.priority: Input should be 'critical' or "
        "'warning', got 'urgent'"
    )


async def test_alarm_events_carry_the_rules_priority(tmp_path: Path) -> None:
    rig = await Rig(tmp_path).open()  # the contract example
    try:
        await rig.reading("ln2-dewar-1.level", 20.0)  # ln2 low, no delay: critical
        rig.clock.advance(1)
        await rig.reading("ln2-dewar-1.level", 40.0)
        raised, cleared = await rig.alarms("ln2-dewar-1.level", "low")
        assert raised.data["priority"] == "critical"
        assert cleared.data["priority"] == "critical"
        assert rig.engine is not None
        await rig.reading("incubator-3.temp", 35.0)  # incubator low: warning (after 2m)
        await rig.advance(130)
        (incubator,) = await rig.alarms("incubator-3.temp", "low")
        assert incubator.data["priority"] == "warning"
        active = {(a.sensor, a.rule): a for a in rig.engine.active_alarms()}
        assert active["incubator-3.temp", "low"].to_dict()["priority"] == "warning"
        assert active["ln2-dewar-1.level", "offline"].to_dict()["priority"] == "critical"
        await rig.restart()  # the state keeps the priority of an active alarm
        after = {(a.sensor, a.rule): a.priority for a in rig.engine.active_alarms()}
        assert after["incubator-3.temp", "low"] == "warning"
    finally:
        await rig.stop()


def test_outputs_can_follow_critical_alarms_only() -> None:
    match = AlarmMatch.model_validate({"priority": "critical"})
    common = {"sensor": "s", "rule": "high", "kind": "freezer", "site": None}
    assert match.matches(**common, priority="critical")
    assert not match.matches(**common, priority="warning")
