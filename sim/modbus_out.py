"""Simulated Modbus devices (pymodbus 3.x servers on SimDevice datastores).

- TCP, unit 1, the CO2 incubator controller (incubator-3): holding registers 100-101 =
  CO2 percent as float32, big-endian word and byte order.
- RTU on a pty (`<pty-dir>/rs485`), unit 1, the cold-room transmitter (cold-room-1):
  input register 1 = temperature x10 (int16), input register 2 = humidity x10 (uint16).

Register numbers are the 0-based addresses on the wire. Values are written into the
registers when a client reads them, from the fleet's latest measurement, and that read
is recorded as sent. A dropout makes the device silent (the client times out); garbage
answers once with a broken frame on RTU (bad CRC) and a DEVICE_FAILURE exception on TCP.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from sim.errors import SimulatorError
from sim.fleet import Fleet
from sim.ptylink import PtyBridge, PtyPort
from sim.record import Recorder

log = logging.getLogger("tracseq.sim.modbus")

CO2_REGISTER = 100
TEMP_REGISTER = 1
HUMIDITY_REGISTER = 2
READ_HOLDING, READ_INPUT = 3, 4

Action = Callable[[int, int, int, int, list[int], Any], Coroutine[Any, Any, ExcCodes | None]]


def float32_registers(value: float) -> tuple[list[int], float]:
    """Big-endian words of a float32, and the value the client will decode."""
    raw = struct.pack(">f", value)
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")], struct.unpack(
        ">f", raw
    )[0]


def _bits() -> list[SimData]:
    return [SimData(0, values=[False] * 16, datatype=DataType.BITS, readonly=True)]


def _device(holding: list[SimData], inputs: list[SimData], action: Action) -> SimDevice:
    """Unit 1 with separate coil/discrete/holding/input blocks, read-only."""
    return SimDevice(id=1, simdata=(_bits(), _bits(), holding, inputs), action=action)


class _Served:
    """Shared by both servers: dropout/garbage state of the device behind a server."""

    def __init__(self, fleet: Fleet, recorder: Recorder, device: str) -> None:
        self.fleet = fleet
        self.recorder = recorder
        self.device = device
        self.corrupt_next = False
        self.reads = 0

    def trace_packet(self, sending: bool, data: bytes) -> bytes:
        """Drop answers during a dropout; break one frame's CRC after a garbage event."""
        if not sending:
            return data
        if self.fleet.silent(self.device):
            return b""
        if self.corrupt_next and data:
            self.corrupt_next = False
            return data[:-1] + bytes([data[-1] ^ 0xA5])
        return data


class ModbusTcpDevice(_Served):
    """incubator-3's CO2 controller on Modbus TCP."""

    def __init__(self, fleet: Fleet, recorder: Recorder, host: str, port: int) -> None:
        super().__init__(fleet, recorder, "incubator-3")
        self.host, self.requested_port = host, port
        self.port = port
        self._server: ModbusTcpServer | None = None

    async def _action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: Any
    ) -> ExcCodes | None:
        if values is not None or fc != READ_HOLDING or self.fleet.silent(self.device):
            return None
        if self.fleet.take_garbage(self.device):
            return ExcCodes.DEVICE_FAILURE
        words, decoded = float32_registers(round(self.fleet.readings(self.device)["co2"], 2))
        regs[CO2_REGISTER - start : CO2_REGISTER - start + 2] = words
        if address <= CO2_REGISTER and address + count >= CO2_REGISTER + 2:
            self.reads += 1
            self.recorder.sent(f"{self.device}.co2", decoded, "modbus-tcp", None)
        return None

    async def start(self) -> None:
        holding = [SimData(CO2_REGISTER, count=2, values=0, datatype=DataType.REGISTERS,
                           readonly=True)]  # fmt: skip
        inputs = [SimData(0, values=0, datatype=DataType.REGISTERS, readonly=True)]
        server = ModbusTcpServer(
            _device(holding, inputs, self._action),
            address=(self.host, self.requested_port),
            trace_packet=self.trace_packet,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            raise SimulatorError(
                f"modbus tcp: cannot listen on {self.host}:{self.requested_port} "
                "(port in use? choose another with --modbus-port)"
            ) from None
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("modbus tcp server on %s:%d (unit 1, holding 100-101 = CO2)", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None


class ModbusRtuDevice(_Served):
    """cold-room-1's transmitter: an RTU slave reachable at `<dir>/rs485`."""

    def __init__(self, fleet: Fleet, recorder: Recorder, link: Path) -> None:
        super().__init__(fleet, recorder, "cold-room-1")
        self.link = link
        self._inner: PtyPort | None = None
        self._outer: PtyPort | None = None
        self._bridge: PtyBridge | None = None
        self._server: ModbusSerialServer | None = None

    async def _action(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: Any
    ) -> ExcCodes | None:
        if values is not None or fc != READ_INPUT or self.fleet.silent(self.device):
            return None
        readings = self.fleet.readings(self.device)
        temp = max(-32768, min(32767, round(readings["temperature"] * 10)))
        rh = max(0, min(65535, round(readings["humidity"] * 10)))
        regs[TEMP_REGISTER - start] = temp & 0xFFFF
        regs[HUMIDITY_REGISTER - start] = rh
        if self.fleet.take_garbage(self.device):
            self.corrupt_next = True
            return None
        self.reads += 1
        if address <= TEMP_REGISTER < address + count:
            self.recorder.sent(f"{self.device}.temp", temp / 10, "modbus-rtu", None)
        if address <= HUMIDITY_REGISTER < address + count:
            self.recorder.sent(f"{self.device}.humidity", rh / 10, "modbus-rtu", None)
        return None

    async def start(self) -> None:
        try:
            self._inner = PtyPort(None)
            self._outer = PtyPort(self.link)
        except OSError as exc:
            raise SimulatorError(f"modbus rtu: cannot create {self.link}: {exc}") from None
        holding = [SimData(0, values=0, datatype=DataType.REGISTERS, readonly=True)]
        inputs = [SimData(0, count=3, values=0, datatype=DataType.REGISTERS, readonly=True)]
        server = ModbusSerialServer(
            _device(holding, inputs, self._action),
            port=self._inner.slave_name,
            baudrate=9600,
            trace_packet=self.trace_packet,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            raise SimulatorError(f"modbus rtu: cannot open {self._inner.slave_name}") from None
        self._server = server
        self._bridge = PtyBridge(self._inner, self._outer)
        self._bridge.start()
        log.info("modbus rtu slave at %s (unit 1, input 1 = temp x10, 2 = RH x10)", self.link)

    @property
    def path(self) -> str:
        return str(self.link)

    async def stop(self) -> None:
        if self._bridge is not None:
            self._bridge.stop()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()  # type: ignore[no-untyped-call]
        for port in (self._outer, self._inner):
            if port is not None:
                port.close()
        self._server = self._bridge = self._inner = self._outer = None
