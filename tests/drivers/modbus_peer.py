"""A real pymodbus server for driver tests: TCP on a free loopback port or RTU on a pty.

Each unit has the four tables from address 0; tests set register values, make a unit stop
answering (`mute`, a real timeout on the wire), garble its frames (`garble`, a real CRC
error), answer with another function than asked (`wrong_function`) or answer one request
late (`late`: the answer is held back and sent just before the answer to the next request),
and stop and start the whole server (connection refused / port gone).
The RTU server talks through a pair of ptys joined by a byte pump in this process, so the
driver opens a real tty by name (`peer.port`), as it would open /dev/ttyUSB0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tty
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus import ModbusDriver
from edgeconfig import Config
from runtime.backoff import Backoff
from runtime.clock import SystemClock

SIZE = 256
_FC = {"coil": 5, "discrete": 2, "holding": 6, "input": 4}


@dataclass
class PtyPump:
    """Two pty pairs joined master-to-master: a null-modem cable between two tty names."""

    loop: asyncio.AbstractEventLoop
    a: tuple[int, int] = field(default_factory=os.openpty)
    b: tuple[int, int] = field(default_factory=os.openpty)

    def __post_init__(self) -> None:
        for master, slave in (self.a, self.b):
            tty.setraw(slave)
            os.set_blocking(master, False)
        self.loop.add_reader(self.a[0], self._pump, self.a[0], self.b[0])
        self.loop.add_reader(self.b[0], self._pump, self.b[0], self.a[0])

    @property
    def names(self) -> tuple[str, str]:
        return os.ttyname(self.a[1]), os.ttyname(self.b[1])

    def _pump(self, src: int, dst: int) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            data = os.read(src, 4096)
            if data:
                os.write(dst, data)

    def close(self) -> None:
        for master, slave in (self.a, self.b):
            self.loop.remove_reader(master)
            for fd in (master, slave):
                with contextlib.suppress(OSError):
                    os.close(fd)


class ModbusPeer:
    """Units 0..n with holding/input registers and coils/discrete inputs at 0..SIZE-1."""

    def __init__(self, units: tuple[int, ...] = (1,)) -> None:
        self.units = units
        self.muted: set[int] = set()
        self.garbled: set[int] = set()
        self.busy: set[int] = set()  # answer reads with exception 6 (device busy)
        self.wrong_function: set[int] = set()  # answer holding-register reads as input reads
        self.answer_function = 4  # the function code the wrong_function units answer with
        self.late: set[int] = set()  # hold the next answer back until the following one
        self.held = b""  # the answer held back
        self.answered: list[bytes] = []  # every answer sent in time, in order
        self.requests = 0
        self.server: ModbusTcpServer | ModbusSerialServer | None = None
        self.pump: PtyPump | None = None
        self.port: str = ""  # TCP port number or the driver's tty name
        self._tcp_port = 0
        self._devices = [self._device(unit) for unit in units]

    def _device(self, unit: int) -> SimDevice:
        def bits() -> list[SimData]:
            return [SimData(0, values=[False] * SIZE, datatype=DataType.BITS)]

        def registers() -> list[SimData]:
            return [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)]

        # (coils, discrete inputs, holding registers, input registers), each from address 0
        async def action(
            _fc: int,
            _start: int,
            _address: int,
            _count: int,
            _registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if set_values is None and unit in self.busy:
                return ExcCodes.DEVICE_BUSY
            return None

        return SimDevice(unit, simdata=(bits(), bits(), registers(), registers()), action=action)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.requests += 1
            return data
        unit = data[6] if self.pump is None else data[0]
        if unit in self.muted:
            return b""
        if unit in self.garbled and len(data) > 2:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if unit in self.wrong_function:
            data = self._as_function(data, self.answer_function)
        if unit in self.late:
            self.late.discard(unit)
            self.held = data
            return b""
        self.answered.append(data)
        held, self.held = self.held, b""
        return held + data

    def _as_function(self, frame: bytes, function: int) -> bytes:
        if self.pump is None:  # MBAP header (7 bytes), then the function code
            return frame[:7] + bytes([function]) + frame[8:]
        body = frame[:1] + bytes([function]) + frame[2:-2]
        return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")

    async def start_tcp(self, port: int) -> None:
        self._tcp_port = port
        self.port = str(port)
        await self._start()

    async def start_rtu(self, link: Path | None = None) -> None:
        """Serve RTU on a pty; the driver's end is `link` (a symlink to it) when given."""
        self.pump = PtyPump(asyncio.get_running_loop())
        self.port = self.pump.names[1]
        if link is not None:
            _link(link, self.port)
            self.port = str(link)
        await self._start()

    async def unplug(self) -> None:
        """The RS-485 adapter is pulled: server stopped, ptys closed, the link removed."""
        await self.stop()
        if self.pump is not None:
            self.pump.close()
        _unlink(self.port)

    async def _start(self) -> None:
        if self.pump is None:
            self.server = ModbusTcpServer(
                self._devices,
                address=("127.0.0.1", self._tcp_port),
                trace_packet=self._trace,
            )
        else:
            self.server = ModbusSerialServer(
                self._devices,
                framer=FramerType.RTU,
                port=self.pump.names[0],
                baudrate=115200,
                trace_packet=self._trace,
            )
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    async def close(self) -> None:
        await self.stop()
        if self.pump is not None:
            self.pump.close()

    async def set(self, unit: int, register: str, words: list[int]) -> None:
        """Write `words` at `register` ('holding 100', 'coil 3') of `unit`, as the device would."""
        assert self.server is not None
        table, address = register.split()
        values: list[int] | list[bool] = (
            [bool(w) for w in words] if table in ("coil", "discrete") else words
        )
        result = await self.server.context.async_setValues(unit, _FC[table], int(address), values)
        assert result is None, result

    async def coil(self, unit: int, address: int) -> bool | None:
        """The coil's value as the device holds it; None while the server is stopped."""
        if self.server is None:
            return None
        values = await self.server.context.async_getValues(unit, 1, address, 1)
        assert isinstance(values, list), values
        return bool(values[0])

    async def restart_fresh(self) -> None:
        """The device restarts: the server goes away and returns with every table cleared."""
        await self.stop()
        self._devices = [self._device(unit) for unit in self.units]
        await self._start()


def _link(link: Path, target: str) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def _unlink(port: str) -> None:
    if Path(port).is_symlink():
        Path(port).unlink()


def fast_driver(config: Config, connection: str) -> ModbusDriver:
    """The polling driver of `connection` with short backoffs and a fixed random seed."""
    settings = config.connections[connection].modbus
    assert settings is not None
    return ModbusDriver(
        connection,
        settings,
        config.sensors_on(connection),
        SystemClock(),
        reconnect=Backoff(base=0.05, cap=0.2),
        device_backoff=(0.1, 0.5),
        rng=random.Random(7),
        spread=0.05,
    )
