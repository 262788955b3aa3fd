"""Config loading: the contract example loads; every broken config names file:line:col and
the field path; `tracseq-edge check` exits 0 with a table or 2 with every error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeconfig import MqttSource, load_config, parse_config
from runtime.errors import ConfigError
from tests.conftest import CONTRACT_EXAMPLE

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
gateway:
  id: lab3-edge-01
connections:
  broker:
    mqtt: {url: "mqtt://127.0.0.1:1883"}
  plc:
    modbus: {url: "tcp://127.0.0.1:5020"}
sensors:
  - id: f1.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {connection: broker, topic: a/f1, value: t}
    alarms:
      high: {above: -70, for: 5m, clear_below: -72}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "sensors.yaml", base_dir=Path("/etc/tracseq"))
    return [str(issue) for issue in caught.value.issues]


def test_the_contract_example_loads_unchanged() -> None:
    config = load_config(CONTRACT_EXAMPLE)
    assert config.gateway.id == "lab3-edge-01"
    assert len(config.sensors) == 7
    ult = config.sensor("ult-{freezer}.temp")
    assert ult is not None and isinstance(ult.source, MqttSource)
    assert ult.source.subscription == "lab3/ult/+/telemetry"
    assert ult.alarms.high is not None and ult.alarms.high.for_ == 300.0
    assert config.gateway.buffer.max_bytes == 2 * 1024**3
    assert config.gateway.buffer.keep_delivered == 7 * 86400
    assert config.sensors[3].alarms.describe() == {
        "high": {"above": 8.0, "for_s": 900.0, "clear_below": 7.5, "priority": "warning"}
    }


def test_the_repository_sensors_yaml_loads() -> None:
    config = load_config(REPO / "sensors.yaml")
    assert config.connections["bench-rs485"].modbus is not None


# (description, a replacement applied to GOOD, the exact expected error line)
BROKEN = [
    (
        "bad duration",
        ("for: 5m", "for: 5 min"),
        "sensors.yaml:15:31: sensors[0].alarms.high.for: invalid duration '5 min' (use e.g. 5m)",
    ),
    (
        "typo in a key",
        ("clear_below", "clear_bellow"),
        "sensors.yaml:15:35: sensors[0].alarms.high.clear_bellow: unknown key 'clear_bellow' "
        "(did you mean 'clear_below'?)",
    ),
    (
        "clear_below above the threshold",
        ("clear_below: -72", "clear_below: -60"),
        "sensors.yaml:15:13: sensors[0].alarms.high: clear_below (-60.0) must not be above (-70.0)",
    ),
    (
        "unknown connection",
        ("connection: broker", "connection: brokr"),
        "sensors.yaml:13:26: sensors[0].source.connection: unknown connection 'brokr' "
        "(known: broker, plc)",
    ),
    (
        "placeholder missing from the topic",
        ("id: f1.temp", "id: 'ult-{freezer}.temp'"),
        "sensors.yaml:9:9: sensors[0].id: placeholder {freezer} is not in the topic 'a/f1'",
    ),
    (
        "unknown kind",
        ("kind: freezer", "kind: freezr"),
        "sensors.yaml:10:11: sensors[0].kind: Input should be 'freezer', 'fridge', 'incubator', "
        "'ln2' or 'room', got 'freezr'",
    ),
    (
        "missing required key",
        ("    unit: degC\n", ""),
        "sensors.yaml:9:5: sensors[0]: required key 'unit' missing",
    ),
    (
        "bad MQTT URL",
        ('mqtt://127.0.0.1:1883"', 'http://127.0.0.1:1883"'),
        "sensors.yaml:5:17: connections.broker.mqtt.url: invalid MQTT URL 'http://127.0.0.1:1883' "
        "(use mqtt://host:1883 or mqtts://...)",
    ),
    (
        "source that matches no protocol",
        ("topic: a/f1, value: t", "path: a/f1"),
        "sensors.yaml:13:13: sensors[0].source: a source needs topic (MQTT), register (Modbus) "
        "or match (serial)",
    ),
    (
        "modbus source on an mqtt connection",
        ("topic: a/f1, value: t", "register: input 1"),
        "sensors.yaml:13:13: sensors[0].source: connection 'broker' is mqtt but this source is "
        "modbus (topic: MQTT, register: Modbus, match: serial)",
    ),
    (
        "threshold that is not a number",
        ("above: -70", "above: cold"),
        "sensors.yaml:15:21: sensors[0].alarms.high.above: Input should be a valid number, "
        "unable to parse string as a number",
    ),
    (
        "bad gateway id",
        ("id: lab3-edge-01", "id: lab 3"),
        "sensors.yaml:2:7: gateway.id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]*$'",
    ),
    (
        "unknown top-level section",
        ("connections:", "conections: {}\nconnections:"),
        "sensors.yaml:3:1: conections: unknown key 'conections' (did you mean 'connections'?)",
    ),
    (
        "duplicate key",
        ("    unit: degC\n", "    unit: degC\n    unit: degF\n"),
        "sensors.yaml:13:5: sensors[0].unit: duplicate key",
    ),
    (
        "YAML syntax error",
        ("kind: freezer", "kind: [freezer"),
        "sensors.yaml:11:13: YAML syntax: expected ',' or ']', but got ':'",
    ),
    (
        "bad size",
        ("  id: lab3-edge-01\n", "  id: lab3-edge-01\n  buffer: {max_bytes: 2 gigs}\n"),
        "sensors.yaml:3:23: gateway.buffer.max_bytes: invalid size '2 gigs' (use e.g. 2GiB)",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_a_broken_config_names_file_line_and_field(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    assert errors_of(GOOD.replace(old, new, 1)) == [expected]


def test_every_error_is_reported_not_just_the_first() -> None:
    text = (
        GOOD.replace("for: 5m", "for: 5 min")
        .replace("kind: freezer", "kind: freezr")
        .replace("connection: broker", "connection: nope")
    )
    found = errors_of(text)
    assert len(found) == 3
    assert [line.split(": ")[1] for line in found] == [
        "sensors[0].kind",
        "sensors[0].source.connection",
        "sensors[0].alarms.high.for",
    ]


def test_duplicate_sensor_ids_are_an_error() -> None:
    second = GOOD[GOOD.index("  - id: f1.temp") :]
    found = errors_of(GOOD + second)
    assert found == [
        "sensors.yaml:16:9: sensors[1].id: duplicate sensor id 'f1.temp' (first at sensors[0])"
    ]


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sensors.yaml").write_text(
        GOOD + "sync: {url: 'http://127.0.0.1:8095', token_file: t}\n"
    )
    config = load_config(tmp_path / "sensors.yaml")
    assert config.gateway.data_dir == tmp_path / "var"
    assert config.sync is not None and config.sync.token_file == tmp_path / "t"


def test_sync_token_comes_from_the_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t").write_text("from-file\n")
    (tmp_path / "sensors.yaml").write_text(
        GOOD + "sync: {url: 'http://127.0.0.1:8095', token_file: t}\n"
    )
    config = load_config(tmp_path / "sensors.yaml")
    assert config.sync is not None
    assert config.sync.token() == "from-file"
    monkeypatch.setenv("TRACSEQ_SYNC_TOKEN", "from-env")
    assert config.sync.token() == "from-env"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_check_prints_a_table_and_exits_0() -> None:
    result = run_cli("check", "-c", str(CONTRACT_EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "ult-{freezer}.temp" in result.stdout
    assert "7 sensor(s)" in result.stdout


def test_check_exits_2_with_every_error_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "sensors.yaml"
    bad.write_text(GOOD.replace("for: 5m", "for: 5 min").replace("kind: freezer", "kind: x"))
    result = run_cli("check", "-c", str(bad))
    assert result.returncode == 2
    assert f"{bad}:15:31: sensors[0].alarms.high.for: invalid duration '5 min'" in result.stderr
    assert f"{bad}:10:11: sensors[0].kind" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_on_a_missing_file_exits_2_cleanly(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_bad_arguments_exit_2() -> None:
    result = run_cli("check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_example_config_text_is_not_modified() -> None:
    original = Path(REPO.parent / "shared" / "contract" / "sensors.example.yaml")
    if original.exists():
        assert original.read_text() == CONTRACT_EXAMPLE.read_text()
    assert textwrap.dedent("x") == "x"
