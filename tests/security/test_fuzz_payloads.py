"""Fuzzing the decoders: MQTT payloads (drivers/payload.py), serial lines (drivers/lines.py)
and Modbus registers (drivers/registers.py through the driver's block decoding).

Whatever arrives, a decoder returns readings and rejects, never raises; every reading has
a finite value and every reading then normalises (edge/normalize.py) to a log entry or a
reject, never an exception. Longer runs: `python -m bench.fuzz --target payload`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import Reading, Reject
from drivers.lines import LineDecoder, LineSplitter
from drivers.modbus import ModbusDriver
from drivers.payload import Decoded, Router, decode
from drivers.registers import plan
from edge.entry import Entry
from edge.normalize import normalize
from edgeconfig import Config, Modbus, parse_config
from runtime.clock import ManualClock
from tests.conftest import CONTRACT_EXAMPLE

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIG: Config = parse_config(CONTRACT_EXAMPLE.read_text(), "example.yaml", base_dir=Path("."))
RECEIVED = 1_800_000_000.0


def normalised(readings: list[Reading], rejects: list[Reject], source: str) -> None:
    """The pipeline's view: each reading is finite and becomes an entry or a reject."""
    for reject in rejects:
        assert isinstance(reject, Reject) and reject.reason and isinstance(reject.payload, bytes)
    for reading in readings:
        assert math.isfinite(reading.value), reading
        assert reading.sensor_time is None or math.isfinite(reading.sensor_time), reading
        assert isinstance(normalize(reading, source), Entry | Reject)


# --- MQTT --------------------------------------------------------------------------------

MQTT_SENSORS = CONFIG.sensors_on("lab-broker")
ROUTER = Router(MQTT_SENSORS)
TOPICS = sorted({s.source.topic for s in MQTT_SENSORS})  # type: ignore[union-attr]
FIELDS = sorted(
    {p for s in MQTT_SENSORS for p in (s.source.value, s.source.time) if p}  # type: ignore[union-attr]
)
ZONE = ZoneInfo("Europe/Berlin")  # naive ISO times are local: DST gaps and folds included

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "ON",
            "off",
            " 1e308 ",
            "1e999",
            "-0",
            "nan",
            "inf",
            "1_0",
            "0x10",
            "2026-03-29T02:30:00",
            "2026-10-25T02:30:00",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00-12:00",
            "1767225600000",
            "1e30",
            "-5",
            "",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _nest(path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: dict[str, Any] = {last: value}
    for key in reversed(parents):
        node = {key: node}
    return node


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """JSON objects with arbitrary values at the configured value/time paths."""
    document: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        document.update(_nest(path, draw(json_values)))
    return json.dumps(document).encode()  # stdlib: integers beyond 64 bits too


@st.composite
def topics(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(TOPICS))
    levels = [
        draw(st.text(max_size=12) | st.sampled_from(["F12", "", "+", "#", "a/b", "x" * 200]))
        if level.startswith("{")
        else level
        for level in template.split("/")
    ]
    return draw(st.just("/".join(levels)) | st.text(max_size=40))


mqtt_messages = st.tuples(
    topics(),
    documents() | st.binary(max_size=300) | json_scalars.map(lambda v: str(v).encode()),
    st.booleans(),
)


def check_mqtt(message: tuple[str, bytes, bool]) -> None:
    topic, payload, dup = message
    out = Decoded()
    matches = ROUTER.match(topic)
    decode(topic, payload, matches, received=RECEIVED, dup=dup, zone=ZONE, out=out)
    assert len(out.readings) + len(out.rejects) >= 1, "a message vanished"
    assert all(r.source == f"mqtt:{topic}" for r in out.rejects)
    normalised(out.readings, out.rejects, f"mqtt:{topic}")


@FUZZ
@given(mqtt_messages)
def test_any_mqtt_message_is_readings_or_rejects(message: tuple[str, bytes, bool]) -> None:
    check_mqtt(message)


# --- serial lines ------------------------------------------------------------------------

LINES_CONFIG = parse_config(
    """
gateway: {id: g}
connections:
  s: {serial: {port: /dev/ttyX}}
sensors:
  - {id: a, kind: ln2, quantity: level, unit: percent,
     source: {connection: s, match: '^LVL (?P<value>\\S+) %$'}}
  - {id: b, kind: room, quantity: temperature, unit: degC,
     source: {connection: s, match: '(?P<sensor>\\w+)=(?P<value>[^;]*);t=(?P<time>\\S*)',
              sensor: T1}}
  - {id: c, kind: room, quantity: door, unit: open,
     source: {connection: s, match: '^DOOR (?P<value>\\w*)'}}
""",
    "lines.yaml",
    base_dir=Path("."),
)
LINE_SENSORS = LINES_CONFIG.sensors
SETTINGS = [("ascii", "\n"), ("utf-8", "\r\n"), ("latin-1", "\r"), ("utf-16-le", "\n")]
line_pieces = st.sampled_from(
    [
        b"LVL 42 %",
        b"LVL nan %",
        b"LVL 1e999 %",
        b"T1=21.5;t=2026-01-01T00:00:00Z",
        b"T1=;t=",
        b"T1=x;t=99999999999999999999",
        b"DOOR open",
        b"DOOR ",
        b"\xff\xfe",
        b"\x00",
        b"\r",
        b"\n",
        b"\r\n",
        b"\xc3",
        b"%",
    ]
)


def check_lines(case: tuple[int, int, list[bytes]]) -> None:
    which, max_line, chunks = case
    encoding, terminator = SETTINGS[which]
    splitter = LineSplitter(terminator.encode(encoding), max_line=max_line)
    decoder = LineDecoder(LINE_SENSORS, "/dev/ttyX", encoding, terminator)
    for chunk in chunks:
        lines = splitter.feed(chunk)
        assert all(len(line.data) <= max_line for line in lines)
        out = decoder.decode(lines, RECEIVED)
        assert len(out.results) >= len(lines), "a line vanished"
        normalised(out.readings, out.rejects, "serial:/dev/ttyX")
    rest = splitter.flush()
    if rest is not None:
        assert decoder.decode([rest], RECEIVED).results == ["partial"]


serial_streams = st.tuples(
    st.integers(0, len(SETTINGS) - 1),
    st.integers(8, 64),
    st.lists(st.lists(line_pieces | st.binary(max_size=20), max_size=6).map(b"".join), max_size=10),
)


@FUZZ
@given(serial_streams)
def test_any_serial_bytes_are_readings_or_rejects(case: tuple[int, int, list[bytes]]) -> None:
    check_lines(case)


# --- Modbus registers --------------------------------------------------------------------

register_types = st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "float64"])


@st.composite
def modbus_sources(draw: st.DrawFn) -> dict[str, Any]:
    table = draw(st.sampled_from(["input", "holding", "coil", "discrete"]))
    bits = table in ("coil", "discrete")
    return {
        "connection": "plc",
        "unit": draw(st.integers(0, 247)),
        "register": f"{table} {draw(st.integers(0, 65535))}",
        "type": "bool" if bits else draw(register_types),
        "byte_order": draw(st.sampled_from(["big", "little"])),
        "word_order": draw(st.sampled_from(["big", "little"])),
        "scale": draw(st.floats(allow_nan=False, allow_infinity=False, width=32)),
        "offset": draw(st.floats(allow_nan=False, allow_infinity=False, width=32)),
    }


def _modbus_config(sources: list[dict[str, Any]]) -> Config:
    sensors = [
        {"id": f"m{i}", "kind": "room", "quantity": "temperature", "unit": "degC", "source": src}
        for i, src in enumerate(sources)
    ]
    return Config.model_validate(
        {
            "gateway": {"id": "g"},
            "connections": {"plc": {"modbus": {"url": "tcp://127.0.0.1:1502"}}},
            "sensors": sensors,
        }
    )


def check_modbus(case: tuple[list[dict[str, Any]], st.DataObject]) -> None:
    sources, data = case
    config = _modbus_config(sources)
    settings_ = config.connections["plc"].modbus
    assert isinstance(settings_, Modbus)
    driver = ModbusDriver("plc", settings_, config.sensors, ManualClock(RECEIVED))
    for block in plan(config.sensors):
        limit = 1 if block.bits else 0xFFFF
        values = data.draw(
            st.lists(st.integers(0, limit), min_size=block.count, max_size=block.count)
        )
        readings, rejects = driver._decode(block, values)
        assert len(readings) + len(rejects) == len(block.sensors)
        normalised(readings, rejects, "modbus:plc")


modbus_blocks = st.tuples(st.lists(modbus_sources(), min_size=1, max_size=6), st.data())


@FUZZ
@given(modbus_blocks)
def test_any_register_values_are_readings_or_rejects(
    case: tuple[list[dict[str, Any]], st.DataObject],
) -> None:
    check_modbus(case)


# What bench/fuzz.py runs for longer: name -> (strategy, property).
CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]] = {
    "payload.mqtt": (mqtt_messages, check_mqtt),
    "payload.serial": (serial_streams, check_lines),
    "payload.modbus": (modbus_blocks, check_modbus),
}
