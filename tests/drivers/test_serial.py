"""The serial driver reading a real pty pair: the test writes to the master, the driver opens
the slave by a stable path (a symlink, as udev's /dev/serial/by-id names are), and the
"USB unplug" closes the pty and removes the path."""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.serial import SerialDriver
from edgeconfig import Config, parse_config
from runtime.backoff import Backoff
from runtime.clock import SystemClock
from tests.drivers.pipeline_log import Committed, committed_log, eventually, running


class Pty:
    """A pty pair whose slave is reachable at `path` while plugged in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master = self.slave = -1

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        self.path.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    pair = Pty(tmp_path / "ttyUSB0")
    pair.plug()
    yield pair
    pair.unplug()


SENSORS = r"""
  - id: ln2-dewar-1.level
    kind: ln2
    quantity: level
    unit: percent
    source: {connection: ln2, match: '^LVL (?P<value>\d+(\.\d+)?) %$'}
  - id: fridge-1.temp
    kind: fridge
    quantity: temperature
    unit: degC
    source: {connection: ln2, match: '^(?P<sensor>T\d) (?P<value>-?\d+\.\d+)$', sensor: T1}
  - id: fridge-2.temp
    kind: fridge
    quantity: temperature
    unit: degC
    source: {connection: ln2, match: '^(?P<sensor>T\d) (?P<value>-?\d+\.\d+)$', sensor: T2}
  - id: room.humidity
    kind: room
    quantity: humidity
    unit: percent
    source: {connection: ln2, match: '^(?P<time>\S+) RH=(?P<value>\S+)$'}
"""


def _config(port: Path, extra: str = "") -> Config:
    text = f"""
gateway: {{id: gw-test}}
connections:
  ln2:
    serial: {{port: "{port}", baudrate: 9600, max_line: 40{extra}}}
sensors:
{SENSORS}
"""
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


def _driver(config: Config) -> SerialDriver:
    settings = config.connections["ln2"].serial
    assert settings is not None
    return SerialDriver(
        "ln2", settings, config.sensors_on("ln2"), SystemClock(), reopen=Backoff(0.05, 0.2)
    )


def _subjects(out: Committed) -> list[tuple[str | None, float]]:
    return [(e.subject, e.data["value"]) for e in out.log.read_now(0, 10_000)]


async def test_lines_become_readings_and_bad_lines_become_rejects(pty: Pty, tmp_path: Path) -> None:
    driver = _driver(_config(pty.path, ", encoding: utf-8"))
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: driver.health().state == "connected")
        pty.write(b"LVL 045.2 %\n")
        pty.write(b"T1 -20.5\r\nT2 4.25\n")  # CRLF and LF lines
        pty.write(b"T3 9.0\n")  # a sensor nobody configured
        pty.write(b"2026-11-24T10:00:00Z RH=41.5\n")
        pty.write(b"\x00\x13#@!garbage\n")  # line noise
        pty.write(b"LVL \xff\xfe %\n")  # not UTF-8
        pty.write(b"LVL " + b"9" * 100 + b" %\n")  # longer than max_line (40)
        pty.write(b"2026-11-24T10:00:00Z RH=wet\n")  # matches, but the value is no number
        pty.write(b"\n")  # an empty line is skipped, not rejected
        pty.write(b"LVL 7")  # split across writes:
        pty.write(b"0.0 %\n")
        await eventually(lambda: len(out.rejects()) >= 5 and len(_subjects(out)) >= 5)
        readings = await out.readings()
        assert driver.health().state == "connected"
    assert [(r.subject, r.data["value"]) for r in readings] == [
        ("ln2-dewar-1.level", 45.2),
        ("fridge-1.temp", -20.5),
        ("fridge-2.temp", 4.25),
        ("room.humidity", 41.5),
        ("ln2-dewar-1.level", 70.0),
    ]
    assert readings[3].time == 1795514400.0  # 2026-11-24T10:00:00Z from the line
    rejects = out.rejects()
    source = f"serial:{pty.path}"
    assert {s for s, _, _ in rejects} == {source}
    reasons = [r for _, r, _ in rejects]
    assert reasons[0] == "no sensor's pattern matches this line"  # T3
    assert reasons[1] == "no sensor's pattern matches this line"  # noise
    assert reasons[2].startswith("not utf-8 text")
    assert reasons[3] == "line longer than max_line, skipped"
    assert reasons[4].startswith("room.humidity: value")
    assert rejects[1][2] == b"\x00\x13#@!garbage"  # the bytes are kept as they came
    assert rejects[3][2] == (b"LVL " + b"9" * 100)[:40]
    assert driver.counters["ok"] == 5
    assert driver.counters["empty"] == 1


async def test_port_that_vanishes_and_returns_is_reopened(pty: Pty, tmp_path: Path) -> None:
    driver = _driver(_config(pty.path))
    async with committed_log(tmp_path) as out, running(driver, out.pipeline) as task:
        await eventually(lambda: driver.health().state == "connected")
        pty.write(b"LVL 050.0 %\n")
        await eventually(lambda: len(_subjects(out)) == 1)
        pty.write(b"LVL 04")  # the adapter is pulled mid-line
        await eventually(lambda: driver.counters.get("bytes") == 18)  # 12 + 6 bytes read
        pty.unplug()
        await eventually(lambda: driver.health().state == "disconnected")
        await eventually(lambda: driver.counters.get("open_failed", 0) >= 3)
        assert not task.done()
        pty.plug()  # plugged back in: same path, a new tty behind it
        await eventually(lambda: driver.health().state == "connected")
        pty.write(b"LVL 049.5 %\n")
        await eventually(lambda: len(_subjects(out)) == 2)
        assert _subjects(out) == [("ln2-dewar-1.level", 50.0), ("ln2-dewar-1.level", 49.5)]
    partial = [(r, p) for _, r, p in out.rejects()]
    assert partial == [("partial line: port closed before the terminator", b"LVL 04")]
    assert driver.counters["partial"] == 1
    assert driver.counters["open_ok"] == 2


async def test_port_missing_at_start_is_waited_for(tmp_path: Path) -> None:
    pair = Pty(tmp_path / "ttyUSB0")
    driver = _driver(_config(pair.path))
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: driver.counters.get("open_failed", 0) >= 2)
        assert driver.health().state == "disconnected"
        assert "cannot open" in driver.health().detail
        pair.plug()
        try:
            await eventually(lambda: driver.health().state == "connected")
            pair.write(b"LVL 033.3 %\n")
            await eventually(lambda: len(_subjects(out)) == 1)
        finally:
            pair.unplug()
    assert driver.counters["ok"] == 1
