"""The simulator's Modbus TCP server, RTU slave on a pty and LN2 serial lines, read by real
pymodbus clients and pyserial."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import serial
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from sim import SimOptions, Simulator, parse_event, run_simulator
from sim.physics import Room

LINE = re.compile(rb"^LVL (?P<value>\d+(\.\d+)?) %$")


def _records(path: Path, via: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["via"] == via]


def _options(tmp_path: Path, **kw: Any) -> SimOptions:
    base: dict[str, Any] = {"mqtt_url": None, "modbus_port": None, "pty_dir": None,
                            "record": tmp_path / "sent.jsonl"}  # fmt: skip
    return SimOptions(**(base | kw))


def test_modbus_tcp_serves_co2_as_big_endian_float32(tmp_path: Path) -> None:
    async def go() -> list[float]:
        async with run_simulator(_options(tmp_path, modbus_port=0)) as sim:
            assert sim.modbus_port
            client = AsyncModbusTcpClient("127.0.0.1", port=sim.modbus_port, timeout=2)
            await client.connect()
            values = []
            for _ in range(3):
                rr = await client.read_holding_registers(100, count=2, device_id=1)
                assert not rr.isError()
                value = client.convert_from_registers(rr.registers, client.DATATYPE.FLOAT32)
                assert isinstance(value, float)
                values.append(value)
            client.close()
            return values

    values = asyncio.run(go())
    assert all(4.7 < v < 5.3 for v in values)
    sent = _records(tmp_path / "sent.jsonl", "modbus-tcp")
    assert [r["value"] for r in sent] == values  # what the client decoded, exactly
    assert {r["sensor"] for r in sent} == {"incubator-3.co2"}


def test_modbus_tcp_dropout_is_silence(tmp_path: Path) -> None:
    async def go() -> None:
        events = [parse_event("dropout:incubator-3@0s:1h")]
        async with run_simulator(_options(tmp_path, modbus_port=0, events=events)) as sim:
            client = AsyncModbusTcpClient(
                "127.0.0.1", port=sim.modbus_port or 0, timeout=0.3, retries=0
            )
            await client.connect()
            with pytest.raises(ModbusException):
                await client.read_holding_registers(100, count=2, device_id=1)
            client.close()

    asyncio.run(go())
    assert _records(tmp_path / "sent.jsonl", "modbus-tcp") == []


async def _rtu_client(sim: Simulator, timeout: float = 2.0) -> AsyncModbusSerialClient:
    assert sim.rs485_path is not None
    client = AsyncModbusSerialClient(sim.rs485_path, baudrate=9600, timeout=timeout, retries=0)
    assert await client.connect()
    return client


def test_modbus_rtu_on_a_pty_serves_int16_temperature_and_humidity(tmp_path: Path) -> None:
    async def go() -> list[tuple[float, float]]:
        async with run_simulator(_options(tmp_path, pty_dir=tmp_path)) as sim:
            assert os.readlink(sim.rs485_path or "").startswith("/dev/pts/")
            room = sim.fleet.devices["cold-room-1"]
            assert isinstance(room, Room)
            room.setpoint = room.temp = -20.0  # a freezer room: negative int16 on the wire
            room.measure()
            client = await _rtu_client(sim)
            out = []
            for _ in range(3):
                rr = await client.read_input_registers(1, count=2, device_id=1)
                assert not rr.isError()
                temp = client.convert_from_registers([rr.registers[0]], client.DATATYPE.INT16)
                assert isinstance(temp, int)
                out.append((temp / 10, rr.registers[1] / 10))
            client.close()
            return out

    values = asyncio.run(go())
    assert all(-21.0 < t < -19.0 and 40.0 < rh < 80.0 for t, rh in values)
    sent = _records(tmp_path / "sent.jsonl", "modbus-rtu")
    assert [(r["sensor"], r["value"]) for r in sent] == [
        pair for t, rh in values for pair in (("cold-room-1.temp", t), ("cold-room-1.humidity", rh))
    ]
    assert not (tmp_path / "rs485").exists()  # the link is removed on exit


def test_modbus_rtu_garbage_breaks_one_frame_and_dropout_is_silence(tmp_path: Path) -> None:
    async def go() -> None:
        events = [parse_event("garbage:rs485@0s"), parse_event("dropout:rs485@10s:1h")]
        options = _options(tmp_path, pty_dir=tmp_path, events=events, speed=10.0, rate=5.0)
        async with run_simulator(options) as sim:
            client = await _rtu_client(sim, timeout=0.5)
            with pytest.raises(ModbusException):  # bad CRC: the frame is discarded
                await client.read_input_registers(1, count=2, device_id=1)
            rr = await client.read_input_registers(1, count=2, device_id=1)
            assert not rr.isError()
            await sim.until(10.0)
            assert sim.fleet.silent("cold-room-1")
            with pytest.raises(ModbusException):
                await client.read_input_registers(1, count=2, device_id=1)
            client.close()

    asyncio.run(go())
    assert len(_records(tmp_path / "sent.jsonl", "modbus-rtu")) == 2  # the one good read


def test_ln2_lines_on_a_pty_are_readable_and_recorded(tmp_path: Path) -> None:
    def read_lines(path: str, count: int) -> list[bytes]:
        with serial.Serial(path, 9600, timeout=5) as port:
            return [port.readline() for _ in range(count)]

    async def go() -> tuple[list[bytes], int]:
        options = _options(tmp_path, pty_dir=tmp_path, rate=20.0, speed=60.0,
                           events=[parse_event("garbage:ln2@30s")])  # fmt: skip
        async with run_simulator(options) as sim:
            assert sim.ln2_path is not None
            await sim.until(0.0)  # nobody listens yet: lines are lost, not recorded
            lines = await asyncio.to_thread(read_lines, sim.ln2_path, 20)
            return lines, sim.ln2.unheard if sim.ln2 else 0

    lines, unheard = asyncio.run(go())
    assert unheard > 0
    good = [LINE.match(line.rstrip(b"\n")) for line in lines]
    values = [float(m["value"]) for m in good if m]
    junk = [line for line, m in zip(lines, good, strict=True) if m is None]
    assert all(line.endswith(b"\n") for line in lines)
    assert len(junk) <= 1 and all(60.0 < v < 80.0 for v in values)
    recorded = [r["value"] for r in _records(tmp_path / "sent.jsonl", "serial")]
    n = len(values)
    assert any(recorded[i : i + n] == values for i in range(len(recorded)))  # in order, all
