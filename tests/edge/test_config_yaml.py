"""YAML anchors, aliases and merge keys in sensors.yaml (shared sensor defaults, as Home
Assistant-style configs write them), with every error still at its file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconfig import Config, MqttSource, parse_config
from runtime.errors import ConfigError

SHARED = """\
gateway: {id: gw}
connections:
  broker:
    mqtt: {url: "mqtt://127.0.0.1:1883"}
x-freezer: &freezer
  kind: freezer
  quantity: temperature
  unit: degC
  alarms: &freezer-alarms
    high: {above: -15, for: 10m, clear_below: -17}
    offline: {after: 5m}
x-broker: &broker {connection: broker}
sensors:
  - <<: *freezer
    id: freezer-20a.temp
    source: {<<: *broker, topic: zigbee2mqtt/freezer-20a, value: temperature}
  - <<: *freezer
    id: freezer-20b.temp
    unit: degF
    source: {<<: *broker, topic: zigbee2mqtt/freezer-20b, value: temperature}
  - <<: [*freezer, {kind: fridge}]
    id: ult-1.temp
    alarms:
      <<: *freezer-alarms
      high: {above: -70, for: 5m, clear_below: -72}
    source: {<<: *broker, topic: lab/ult-1, value: t}
"""


def parse(text: str) -> Config:
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return [str(issue) for issue in caught.value.issues]


def test_merge_keys_share_defaults_and_written_keys_win() -> None:
    sensors = {s.id: s for s in parse(SHARED).sensors}
    assert sensors["freezer-20a.temp"].kind == "freezer"
    assert sensors["freezer-20a.temp"].alarms.offline is not None
    assert sensors["freezer-20b.temp"].unit == "degF"  # written in the mapping: wins
    ult = sensors["ult-1.temp"]
    assert ult.kind == "freezer"  # of two merged mappings the first wins
    assert ult.alarms.high is not None and ult.alarms.high.above == -70
    assert ult.alarms.offline is not None and ult.alarms.offline.after == 300.0


def test_an_error_in_merged_defaults_points_at_the_defaults() -> None:
    broken = SHARED.replace("for: 10m", "for: ten minutes")
    errors = errors_of(broken)
    assert errors[0].startswith("sensors.yaml:10:29: sensors[0].alarms.high.for: invalid duration")


def test_an_error_in_a_sensor_using_defaults_points_at_that_sensor() -> None:
    errors = errors_of(SHARED.replace("id: freezer-20b.temp", "id: freezer 20b"))
    assert errors == [
        "sensors.yaml:18:9: sensors[1].id: invalid sensor id 'freezer 20b': "
        "letters, digits, . _ - and {name}"
    ]


def test_merging_something_that_is_not_a_mapping_is_an_error() -> None:
    errors = errors_of(
        SHARED.replace("  - <<: *freezer\n    id: freezer-20a", "  - <<: 3\n    id: freezer-20a", 1)
    )
    assert any("<< merges a mapping" in e for e in errors)


def test_unknown_key_lists_only_keys_a_file_may_have() -> None:
    errors = errors_of("gateway: {id: gw}\nsensorz: []\n")
    assert len(errors) == 1
    assert "config_hash" not in errors[0] and "source_file" not in errors[0]
    errors = errors_of("gateway: {id: gw}\nconfig_hash: abc\n")
    assert errors[0].startswith("sensors.yaml:2:1: config_hash: unknown key 'config_hash'")
    assert "source_file" not in errors[0]


KIND_DEFAULTS = """\
gateway: {id: gw}
connections:
  broker:
    mqtt: {url: "mqtt://127.0.0.1:1883"}
defaults:
  freezer:
    quantity: temperature
    unit: degC
    source: {connection: broker, value: temperature}
    alarms:
      high: {above: -15, for: 10m, clear_below: -17}
      offline: {after: 5m}
  ln2:
    quantity: level
    unit: percent
    alarms: {low: {below: 20, for: 1m}}
sensors:
  - id: freezer-20a.temp
    kind: freezer
    source: {topic: zigbee2mqtt/freezer-20a}
  - id: ult-1.temp
    kind: freezer
    unit: degF
    alarms:
      high: {above: -70, for: 5m, clear_below: -72}
    source: {topic: lab/ult-1, value: t}
  - id: dewar-1.level
    kind: ln2
    source: {connection: broker, topic: lab/dewar-1}
  - id: room-1.temp
    kind: room
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: lab/room-1}
"""


def test_kind_defaults_are_merged_under_each_sensor_and_its_own_keys_win() -> None:
    sensors = {s.id: s for s in parse(KIND_DEFAULTS).sensors}
    plain = sensors["freezer-20a.temp"]
    assert (plain.quantity, plain.unit) == ("temperature", "degC")
    assert isinstance(plain.source, MqttSource) and plain.source.connection == "broker"
    assert plain.source.value == "temperature"
    assert plain.alarms.high is not None and plain.alarms.high.above == -15
    ult = sensors["ult-1.temp"]
    assert ult.unit == "degF"  # written by the sensor: wins
    assert isinstance(ult.source, MqttSource) and ult.source.value == "t"
    assert ult.alarms.high is not None and ult.alarms.high.above == -70
    assert ult.alarms.offline is not None and ult.alarms.offline.after == 300.0  # merged below
    dewar = sensors["dewar-1.level"]
    assert (dewar.quantity, dewar.unit) == ("level", "percent")
    assert dewar.alarms.low is not None and dewar.alarms.high is None
    room = sensors["room-1.temp"]  # no defaults for its kind
    assert room.alarms.high is None and room.alarms.offline is None


def test_a_bad_key_in_kind_defaults_is_named_at_the_defaults_line() -> None:
    errors = errors_of(KIND_DEFAULTS.replace("offline: {after: 5m}", "ofline: {after: 5m}"))
    # Once for each sensor of the kind, each time at the line the defaults write it.
    assert errors == [
        "sensors.yaml:12:7: sensors[0].alarms.ofline: unknown key 'ofline' "
        "(did you mean 'offline'?)",
        "sensors.yaml:12:7: sensors[1].alarms.ofline: unknown key 'ofline' "
        "(did you mean 'offline'?)",
    ]
    errors = errors_of(KIND_DEFAULTS.replace("for: 10m", "for: ten minutes"))
    assert errors == [  # the ULT writes its own high alarm
        "sensors.yaml:11:31: sensors[0].alarms.high.for: invalid duration 'ten minutes' "
        "(use e.g. 5m)"
    ]


def test_kind_defaults_for_an_unknown_kind_or_a_sensor_id_are_errors() -> None:
    text = KIND_DEFAULTS.replace("  ln2:\n", "  lN2:\n").replace(
        "  freezer:\n", "  freezer:\n    id: x\n"
    )
    errors = errors_of(text)
    assert errors[:2] == [
        "sensors.yaml:7:5: defaults.freezer.id: id cannot be a default: each sensor writes its own",
        "sensors.yaml:14:3: defaults.lN2: unknown sensor kind 'lN2' (did you mean 'ln2'?)",
    ]
    # The ln2 sensor got no defaults: what it lacks is named at the sensor.
    assert errors[2:] == [
        "sensors.yaml:28:5: sensors[2]: required key 'quantity' missing",
        "sensors.yaml:28:5: sensors[2]: required key 'unit' missing",
    ]
    ln2 = (
        "  ln2:\n    quantity: level\n    unit: percent\n    alarms: {low: {below: 20, for: 1m}}\n"
    )
    errors = errors_of(KIND_DEFAULTS.replace(ln2, "  ln2: [level]\n"))
    assert errors[0] == (
        "sensors.yaml:13:8: defaults.ln2: a kind's defaults are a mapping of sensor keys"
    )
    errors = errors_of(KIND_DEFAULTS.replace("defaults:\n", "defaults: 3\nx-old:\n", 1))
    assert errors[0] == (
        "sensors.yaml:5:11: defaults: defaults maps a sensor kind to keys for its sensors"
    )
