"""Property tests of the line splitter and decoder: any bytes, any chunking, never a crash."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.lines import LineDecoder, LineSplitter
from edgeconfig import parse_config
from runtime.errors import ConfigError

_CONFIG = r"""
gateway: {id: g}
connections:
  s: {serial: {port: /dev/ttyX}}
sensors:
  - id: a
    kind: ln2
    quantity: level
    unit: percent
    source: {connection: s, match: '^LVL (?P<value>\S+) %$'}
  - id: b
    kind: room
    quantity: temperature
    unit: degC
    source: {connection: s, match: '(?P<sensor>T\d)=(?P<value>\S+) @(?P<time>\S+)', sensor: T1}
"""
SENSORS = parse_config(_CONFIG, "sensors.yaml", base_dir=Path(".")).sensors


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(
    lines=st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), max_size=20),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_chunking_never_changes_the_lines(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(b"\n", max_line=64)
    got = [line.data for chunk in _chunks(stream, cuts) for line in splitter.feed(chunk)]
    assert got == lines
    assert splitter.flush() is None


@given(
    stream=st.binary(max_size=2000),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
    terminator=st.sampled_from([b"\n", b"\r\n", b"\x03"]),
)
def test_any_bytes_become_bounded_lines_or_rejects(
    stream: bytes, cuts: list[int], terminator: bytes
) -> None:
    splitter = LineSplitter(terminator, max_line=16)
    decoder = LineDecoder(SENSORS, "/dev/ttyX", "ascii", terminator.decode())
    for chunk in _chunks(stream, cuts):
        lines = splitter.feed(chunk)
        assert all(len(line.data) <= 16 for line in lines)
        assert len(splitter._buffer) <= 16 + len(terminator)
        out = decoder.decode(lines, 1_800_000_000.0)
        assert len(out.results) >= len(lines)
        assert all(r.source == "serial:/dev/ttyX" for r in out.rejects)
    rest = splitter.flush()
    if rest is not None:
        assert decoder.decode([rest], 0.0).results == ["partial"]


@given(text=st.text(max_size=40))
def test_any_text_line_is_a_reading_or_a_reject(text: str) -> None:
    decoder = LineDecoder(SENSORS, "/dev/ttyX", "utf-8", "\n")
    splitter = LineSplitter(b"\n", max_line=256)
    lines = splitter.feed(text.replace("\n", " ").encode() + b"\n")
    out = decoder.decode(lines, 1_800_000_000.0)
    assert len(out.readings) + len(out.rejects) + out.results.count("empty") >= 1


def test_over_long_line_is_reported_once_and_the_next_line_survives() -> None:
    splitter = LineSplitter(b"\r\n", max_line=8)
    lines = splitter.feed(b"x" * 20) + splitter.feed(b"y" * 20 + b"\r") + splitter.feed(b"\nok\r\n")
    assert [(line.data, line.problem) for line in lines] == [
        (b"x" * 8, "too_long"),
        (b"ok", None),
    ]


def test_sensor_time_and_sensor_group() -> None:
    decoder = LineDecoder(SENSORS, "/dev/ttyX", "ascii", "\n")
    lines = LineSplitter(b"\n", 256).feed(
        b"T1=-80.5 @1795514400123\nT2=1 @0\nT1=3 @yesterday\nLVL ON %\n"
    )
    out = decoder.decode(lines, 1_800_000_000.0)
    assert [(r.sensor_id, r.value, r.sensor_time) for r in out.readings] == [
        ("b", -80.5, 1795514400.123),
        ("b", 3.0, None),
        ("a", 1.0, None),
    ]
    assert out.readings[1].extra == {"sensor_time_rejected": "yesterday"}
    assert out.results == ["ok", "no_match", "ok", "ok"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("encoding: klingon", "unknown encoding 'klingon'"),
        ("terminator: ''", "terminator must not be empty"),
        ("terminator: 'é'", "terminator cannot be written in ascii"),
    ],
)
def test_bad_line_settings_are_config_errors(option: str, message: str) -> None:
    text = f"gateway: {{id: g}}\nconnections:\n  s: {{serial: {{port: /dev/x, {option}}}}}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "sensors.yaml", base_dir=Path("."))
    assert f"sensors.yaml:3:15: connections.s.serial: {message}" in str(caught.value)
