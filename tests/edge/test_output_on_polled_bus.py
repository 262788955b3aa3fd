"""An alarm output on the RTU bus the sensors poll: one RS-485 adapter for both.

A real pymodbus RTU server behind a pty pair holds the sensors (unit 1) and the relay
module of the beacon (unit 2). The output writes its coil through the polling driver's
client, between the polls; the coil is checked on the server, the polls in the driver's
counters (a write sent in the middle of a poll, or an answer taken for another request's,
would show as a timeout, CRC error or mismatch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.modbus import ModbusDriver
from edge.daemon import Daemon
from edge.log import DurableLog
from edge.outputs import AlarmOutput
from edgeconfig import Config, load_config, parse_config
from tests.drivers.modbus_peer import ModbusPeer, fast_driver
from tests.drivers.pipeline_log import Committed, committed_log, eventually, running
from tests.edge.alarm_rig import Rig, running_output
from tests.servers import free_port

POLLS_ONLY = {"connect_ok", "ok"}  # driver counters when no poll failed


async def _coil_is(peer: ModbusPeer, value: bool) -> bool:
    """The beacon's coil (unit 2, coil 5) as the relay module holds it."""
    return await peer.coil(2, 5) is value


def _readings(log: DurableLog | None, sensor: str) -> int:
    assert log is not None
    return sum(1 for e in log.read_now(0, 1_000_000) if e.subject == sensor)


def _daemon_config(tmp_path: Path, port: str, http_port: int) -> Config:
    path = tmp_path / "sensors.yaml"
    path.write_text(f"""
gateway: {{id: gw-bus, data_dir: ./var, listen: 127.0.0.1:{http_port}}}
connections:
  rs485: {{modbus: {{url: "rtu://{port}?baudrate=115200", timeout: 200ms, frame_pause: 5ms}}}}
sensors:
  - {{id: ult-1.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: rs485, unit: 1, register: holding 0, type: int16, poll: 100ms}},
     alarms: {{high: {{above: -70}}}}}}
  - {{id: room-1.temp, kind: room, quantity: temperature, unit: degC,
     source: {{connection: rs485, unit: 1, register: holding 1, type: int16, poll: 150ms}}}}
outputs:
  beacon: {{connection: rs485, unit: 2, register: coil 5, match: {{kind: freezer}},
           reassert: 200ms}}
""")
    return load_config(path)


async def test_beacon_on_the_polled_bus_follows_the_alarm_while_the_sensors_are_polled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tracseq")
    peer = ModbusPeer(units=(1, 2))
    await peer.start_rtu()
    await peer.set(1, "holding 0", [(-80) & 0xFFFF])
    await peer.set(1, "holding 1", [21])
    daemon = Daemon(_daemon_config(tmp_path, peer.port, free_port()))

    def beacon() -> str:
        health = daemon.health().get("output:beacon")
        return "" if health is None else health.detail

    task = asyncio.create_task(daemon.serve())
    try:
        await eventually(lambda: beacon().startswith("off: "))
        await peer.set(1, "holding 0", [(-60) & 0xFFFF])  # the freezer warms: alarm
        await eventually(lambda: _coil_is(peer, True), timeout=20)
        on_at = _readings(daemon.log, "ult-1.temp"), _readings(daemon.log, "room-1.temp")
        # The coil is written again every 200ms while both sensors go on being polled.
        await eventually(
            lambda: (
                _readings(daemon.log, "ult-1.temp") >= on_at[0] + 10
                and _readings(daemon.log, "room-1.temp") >= on_at[1] + 6
            ),
            timeout=20,
        )
        assert await peer.coil(2, 5) is True
        await peer.set(1, "holding 0", [(-80) & 0xFFFF])  # back to cold: cleared
        await eventually(lambda: _coil_is(peer, False), timeout=20)
        off_at = _readings(daemon.log, "ult-1.temp")
        await eventually(lambda: _readings(daemon.log, "ult-1.temp") >= off_at + 5, timeout=20)
        driver = daemon.health()["driver:rs485"]
        assert driver.state == "connected", driver.detail
        assert set(driver.counters) == POLLS_ONLY, driver.counters
        assert driver.counters["connect_ok"] == 1
        assert beacon() == f"off: coil 5 on {peer.port}"
        failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert failed == []  # no write failed either
    finally:
        daemon._stop.set()  # what SIGTERM does
        assert await task == 0
        await peer.close()


def _rig_config(link: Path) -> Config:
    text = f"""
gateway: {{id: gw-bus, site: lab}}
connections:
  broker: {{mqtt: {{url: "mqtt://127.0.0.1:1"}}}}
  rs485: {{modbus: {{url: "rtu://{link}?baudrate=115200", timeout: 200ms}}}}
sensors:
  - {{id: ult-1.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: t/ult-1}}, alarms: {{high: {{above: -70}}}}}}
  - {{id: room-1.temp, kind: room, quantity: temperature, unit: degC,
     source: {{connection: rs485, unit: 1, register: holding 1, type: int16, poll: 100ms}}}}
outputs:
  beacon: {{connection: rs485, unit: 2, register: coil 5, match: {{kind: freezer}},
           reassert: 200ms}}
"""
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


@contextlib.asynccontextmanager
async def _shared_bus(
    tmp_path: Path, peer: ModbusPeer
) -> AsyncIterator[tuple[Rig, ModbusDriver, Committed, AlarmOutput]]:
    """The rig's beacon and a polling driver on `peer`'s RTU bus, the beacon off; closes
    `peer` at the end."""
    try:
        rig = await Rig(tmp_path, config=_rig_config(Path(peer.port))).open()
        try:
            driver = fast_driver(rig.config, "rs485")
            (tmp_path / "bus").mkdir()
            async with (
                committed_log(tmp_path / "bus") as out,
                running(driver, out.pipeline),
                running_output(rig, "rs485", [driver]) as output,
            ):
                await eventually(lambda: output.health().detail.startswith("off: "))
                yield rig, driver, out, output
        finally:
            await rig.stop()
    finally:
        await peer.close()


async def test_beacon_waits_while_the_adapter_is_unplugged_and_goes_on_once_it_is_back(
    tmp_path: Path,
) -> None:
    link = tmp_path / "ttyUSB0"
    peer = ModbusPeer(units=(1, 2))
    await peer.start_rtu(link)
    async with _shared_bus(tmp_path, peer) as (rig, driver, out, output):
        await peer.unplug()
        await eventually(lambda: driver.health().state == "disconnected")

        rig.clock.advance(1.0)
        await rig.reading("ult-1.temp", -60.0)  # the alarm, while the bus is down
        await eventually(lambda: output.health().state == "disconnected")
        detail = output.health().detail
        assert detail.startswith(
            f"coil 5 on {link}: {link}: coil 5 not written: the port is not open"
        )
        assert output.wanted and not output.written

        await peer.start_rtu(link)  # plugged in again
        await eventually(lambda: _coil_is(peer, True), timeout=20)
        await eventually(lambda: output.health().detail.startswith("on: "))
        polled = _readings(out.log, "room-1.temp")
        await eventually(lambda: _readings(out.log, "room-1.temp") >= polled + 3)
        assert driver.health().state == "connected"


async def test_a_write_the_relay_answers_wrongly_fails_and_the_polls_go_on(
    tmp_path: Path,
) -> None:
    """An answer of another function is never taken for the relay's confirmation, and the
    failed write costs the polls nothing: none of them fails or takes its answer."""
    peer = ModbusPeer(units=(1, 2))
    await peer.start_rtu()
    async with _shared_bus(tmp_path, peer) as (rig, driver, out, output):
        peer.wrong_function.add(2)  # the relay module answers as if asked a register write
        peer.answer_function = 6
        rig.clock.advance(1.0)
        await rig.reading("ult-1.temp", -60.0)
        await eventually(lambda: output.health().state == "disconnected")
        assert "coil 5 not confirmed: answer of function 6, asked 5" in output.health().detail
        polled = _readings(out.log, "room-1.temp")
        await eventually(lambda: _readings(out.log, "room-1.temp") >= polled + 5)
        assert output.written is False

        peer.wrong_function.clear()
        await eventually(lambda: _coil_is(peer, True), timeout=20)
        await eventually(lambda: output.health().detail.startswith("on: "))
        assert set(driver.counters) == POLLS_ONLY, driver.counters
