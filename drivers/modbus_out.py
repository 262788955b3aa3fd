"""Writing Modbus coils: the one write path, for local alarm outputs (beacons, buzzers).

`write_coil` sends one write (function 05) through a client and checks the device's answer
(`drivers.modbus_answer.coil_written`); pymodbus errors are translated into `OutputError`
here, nothing above sees them. Two `drivers.base.CoilWriter`s use it:

- `ModbusCoilWriter` owns a client of its own (a Modbus TCP connection, or an RTU port no
  sensor polls) and opens it on demand; a failed write drops the connection, so the
  caller's next attempt starts afresh.
- `BusCoilWriter` writes on an RTU bus the sensors already poll, through the polling
  driver's client, in turns between the polls (`drivers.modbus_bus`): a serial port takes
  one client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from drivers.base import CoilRefused, OutputError
from drivers.modbus import unit_keyword
from drivers.modbus_answer import Failure, coil_written
from drivers.modbus_bus import ModbusBus
from edgeconfig import Modbus

log = logging.getLogger("tracseq.drivers.modbus_out")

_UNIT = unit_keyword()


async def write_coil(client: Any, where: str, unit: int, address: int, on: bool) -> None:
    """Set coil `address` of `unit` through `client`; raises OutputError unless the device
    confirmed it (`CoilRefused` when it answered with an exception)."""
    try:
        response = await client.write_coil(address, on, **{_UNIT: unit})
    except (ModbusException, TimeoutError, OSError) as exc:
        raise OutputError(f"{where}: coil {address} not written: {exc}") from None
    try:
        coil_written(response, address, on)
    except Failure as failure:
        if failure.result == "exception":
            raise CoilRefused(f"{where}: unit {unit} refused coil {address} ({failure})") from None
        raise OutputError(f"{where}: coil {address} not confirmed: {failure}") from None


class ModbusCoilWriter:
    """Writes single coils on one Modbus TCP or RTU connection, with a client of its own."""

    def __init__(self, name: str, settings: Modbus) -> None:
        self.name = name
        self.settings = settings
        self._client: Any = None
        self._lock = asyncio.Lock()

    def where(self) -> str:
        if self.settings.is_rtu:
            return str(self.settings.serial_options()["port"])
        return f"{self.settings.host}:{self.settings.port}"

    async def write_coil(self, unit: int, address: int, on: bool) -> None:
        """Set coil `address` of `unit`; raises OutputError when the device did not take it."""
        async with self._lock:
            client = await self._connected()
            try:
                await write_coil(client, self.where(), unit, address, on)
            except CoilRefused:
                raise
            except OutputError:
                self.close()  # the next write starts from a fresh connection
                raise

    async def _connected(self) -> Any:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        common: dict[str, Any] = {
            "timeout": self.settings.timeout,
            "retries": self.settings.retries,
            "reconnect_delay": 0,  # the caller retries with its own backoff
            "name": f"{self.name}-out",
        }
        if self.settings.is_rtu:
            client: Any = AsyncModbusSerialClient(**self.settings.serial_options(), **common)
        else:
            client = AsyncModbusTcpClient(self.settings.host, port=self.settings.port, **common)
        try:
            ok = bool(await client.connect())
        except (ModbusException, OSError) as exc:
            client.close()
            raise OutputError(f"{self.where()}: cannot connect: {exc}") from None
        if not ok:
            client.close()
            raise OutputError(f"{self.where()}: cannot connect")
        self._client = client
        return client

    def close(self) -> None:
        """Drop the connection (the next write opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            try:
                client.close()
            except (ModbusException, OSError) as exc:  # a broken port must not mask the cause
                log.debug("modbus %s: close failed: %s", self.name, exc)


class BusCoilWriter:
    """Writes single coils on an RTU bus through the client of the driver that polls it."""

    def __init__(self, name: str, bus: ModbusBus) -> None:
        self.name = name
        self._bus = bus

    def where(self) -> str:
        return self._bus.where

    async def write_coil(self, unit: int, address: int, on: bool) -> None:
        """Set coil `address` of `unit` between two polls; raises OutputError as above."""
        await self._bus.write(
            f"coil {address}", lambda client: write_coil(client, self.where(), unit, address, on)
        )

    def close(self) -> None:
        """Nothing to drop: the connection is the polling driver's, and stays open."""
