"""YAML anchors, aliases and merge keys in sensors.yaml (shared sensor defaults, as Home
Assistant-style configs write them), with every error still at its file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconfig import Config, parse_config
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
