"""Line protocols: bytes from a serial port cut into lines, lines matched to sensors by regex.

`LineSplitter` cuts a byte stream at the terminator and never buffers more than `max_line`
bytes: an over-long line is reported once (its first `max_line` bytes) and the rest of it is
skipped up to the next terminator. `LineDecoder` turns one line into readings: each
sensor's pattern is searched in the line (anchor it with ^...$ to match whole lines), its
`value` group is the value, an optional `time` group the sensor's time and an optional
`sensor` group selects the sensor whose `source.sensor` equals it, an optional `unit` group
the unit the line states (`T= 70.2 'F`: converted to the sensor's unit). Whatever is not a
reading becomes a reject with the reason; nothing here raises on bad input.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Literal

from drivers.base import Reading, Reject
from drivers.payload import epoch, text_value
from edgeconfig import Sensor, SerialSource
from runtime import units

Result = Literal["ok", "no_match", "bad_value", "bad_encoding", "too_long", "partial", "empty"]


@dataclass(slots=True)
class Line:
    data: bytes
    problem: Literal["too_long", "partial"] | None = None


@dataclass(slots=True)
class LineSplitter:
    """Cuts a byte stream into lines at `terminator`, holding at most `max_line` bytes."""

    terminator: bytes
    max_line: int
    _buffer: bytearray = field(default_factory=bytearray)
    _skipping: bool = False  # inside an over-long line already reported

    def feed(self, chunk: bytes) -> list[Line]:
        self._buffer += chunk
        lines: list[Line] = []
        while True:
            end = self._buffer.find(self.terminator)
            if end < 0:
                break
            data = bytes(self._buffer[:end])
            del self._buffer[: end + len(self.terminator)]
            if self._skipping:
                self._skipping = False
            elif len(data) > self.max_line:
                lines.append(Line(data[: self.max_line], "too_long"))
            else:
                lines.append(Line(data))
        if len(self._buffer) > self.max_line:
            if not self._skipping:
                lines.append(Line(bytes(self._buffer[: self.max_line]), "too_long"))
                self._skipping = True
            # Keep a tail that may hold the start of a multi-byte terminator.
            del self._buffer[: len(self._buffer) - (len(self.terminator) - 1)]
        return lines

    def flush(self) -> Line | None:
        """The unterminated rest (the port closed mid-line), if any."""
        data, skipping = bytes(self._buffer), self._skipping
        self._buffer.clear()
        self._skipping = False
        if not data.strip() or skipping:
            return None
        return Line(data, "partial")


@dataclass(slots=True)
class _Target:
    sensor: Sensor
    pattern: re.Pattern[str]
    name: str | None  # the `sensor` group value this sensor answers to


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)


class LineDecoder:
    """Lines to readings for the sensors of one serial connection."""

    def __init__(self, sensors: Sequence[Sensor], port: str, encoding: str, terminator: str):
        self.source = f"serial:{port}"
        self._encoding = codecs.lookup(encoding).name
        self._strip_cr = terminator == "\n"  # CRLF devices on a LF terminator
        self._targets: list[_Target] = []
        for sensor in sensors:
            source = sensor.source
            assert isinstance(source, SerialSource)
            self._targets.append(_Target(sensor, re.compile(source.match), source.sensor))

    def decode(self, lines: Sequence[Line], received: float) -> Decoded:
        out = Decoded()
        for line in lines:
            self._decode_one(line, received, out)
        return out

    def _decode_one(self, line: Line, received: float, out: Decoded) -> None:
        if line.problem == "too_long":
            self._reject(out, "too_long", "line longer than max_line, skipped", line, received)
            return
        if line.problem == "partial":
            self._reject(
                out, "partial", "partial line: port closed before the terminator", line, received
            )
            return
        try:
            text = line.data.decode(self._encoding)
        except UnicodeDecodeError as exc:
            self._reject(
                out,
                "bad_encoding",
                f"not {self._encoding} text: {exc.reason} at byte {exc.start}",
                line,
                received,
            )
            return
        if self._strip_cr and text.endswith("\r"):
            text = text[:-1]
        if not text.strip():
            out.results.append("empty")
            return
        matched = False
        for target in self._targets:
            found = target.pattern.search(text)
            if found is None:
                continue
            groups = found.groupdict()
            if target.name is not None and groups.get("sensor") != target.name:
                continue
            matched = True
            raw = groups.get("value")
            value, problem = text_value(raw or "", states=True)
            if problem is not None:
                self._reject(
                    out, "bad_value", f"{target.sensor.id}: value {problem}", line, received
                )
                continue
            reading = Reading(target.sensor, target.sensor.id, value, received)
            raw_unit = groups.get("unit")
            if raw_unit is not None:
                reading.unit = units.canonical(raw_unit.strip("'\" "))
                if reading.unit is None:
                    reason = (
                        f"{target.sensor.id}: unit {raw_unit[:16]!r} is not known ({units.KNOWN})"
                    )
                    self._reject(out, "bad_value", reason, line, received)
                    continue
            raw_time = groups.get("time")
            if raw_time is not None:
                reading.sensor_time = epoch(raw_time, UTC)
                if reading.sensor_time is None:
                    reading.extra = {"sensor_time_rejected": raw_time[:64]}
            out.readings.append(reading)
            out.results.append("ok")
        if not matched:
            self._reject(out, "no_match", "no sensor's pattern matches this line", line, received)

    def _reject(
        self, out: Decoded, result: Result, reason: str, line: Line, received: float
    ) -> None:
        out.results.append(result)
        out.rejects.append(Reject(self.source, reason, line.data, received))
