"""Modbus TCP and RTU polling: one client per connection, the fewest requests per poll.

One task per connection polls every block (see `drivers.registers.plan`) when it is due,
one request at a time: an RS-485 bus carries one frame at a time, and a TCP gateway in
front of a bus serialises anyway. A unit that times out, answers with a bad frame (CRC) or
a device-level exception is marked down and backs off on its own (`runtime.backoff.Backoff`):
the other units on the bus lose at most one timeout per backed-off attempt. An exception
that names the request (illegal function, address or value) backs off only that block; a
block that spans unmapped addresses is split into one request per sensor. A unit that does
not answer produces no values at all, and every poll that yields no reading counts as a
failed attempt of its unit, whatever pymodbus did with the connection (it closes a TCP
socket after a few timeouts in a row). An answer of another function or size than asked is
dropped; on RTU, where frames carry no transaction id, `drivers.rtu_line` keeps a late
answer from being taken for the next one. The connection itself (socket, serial port) is
reopened with backoff; nothing here ever ends the daemon. The open client is published on
the connection's `drivers.modbus_bus.ModbusBus`, where the coil writes of alarm outputs on
the same RTU bus take their turns between the polls.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from drivers.base import Reading, ReadingSink, Reject
from drivers.modbus_answer import REQUEST_ERRORS, Failure, Result, values_of
from drivers.modbus_bus import ModbusBus
from drivers.registers import Block, decode, plan, source_of, split
from drivers.rtu_line import RtuLine
from edgeconfig import Modbus, Sensor
from runtime.backoff import Backoff, RetryLog
from runtime.cancellation import raise_if_cancelled
from runtime.clock import Clock
from runtime.health import Health

log = logging.getLogger("tracseq.drivers.modbus")

REQUESTS = Counter(
    "tracseq_modbus_requests_total",
    "Modbus read requests by outcome (ok, timeout, crc_error, mismatch, exception, "
    "connection_error)",
    ["connection", "result"],
)
DEVICE_UP = Gauge(
    "tracseq_modbus_device_up", "1 while the unit answers its polls", ["connection", "unit"]
)
CONNECTS = Counter(
    "tracseq_modbus_connects_total",
    "Attempts to open the TCP socket or serial port",
    ["connection", "result"],
)

_JITTER = 0.05  # each poll interval varies by up to 5% so devices never fall into lockstep


def unit_keyword() -> str:
    """The unit id keyword of pymodbus calls (`slave=` became `device_id=` during 3.x)."""
    params = inspect.signature(AsyncModbusTcpClient.read_holding_registers).parameters
    return "device_id" if "device_id" in params else "slave"


_UNIT = unit_keyword()


@dataclass(slots=True)
class _Device:
    """A unit on the connection: its own backoff, so a dead slave waits alone."""

    unit: int
    backoff: Backoff
    retry: RetryLog
    retry_at: float = 0.0
    up: bool = False
    error: str = ""


@dataclass(slots=True)
class _Poll:
    block: Block
    due: float
    retry_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=300.0))
    error: str = ""


class ModbusDriver:
    """Polls the Modbus sensors of one connection (TCP or RTU) and submits their readings."""

    def __init__(
        self,
        name: str,
        settings: Modbus,
        sensors: Sequence[Sensor],
        clock: Clock,
        *,
        reconnect: Backoff | None = None,
        device_backoff: tuple[float, float] = (1.0, 60.0),
        rng: random.Random | None = None,
        spread: float = 5.0,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._spread = spread  # first polls are spread over up to this many seconds
        self._reconnect = reconnect or Backoff(base=0.5, cap=30.0)
        self._reconnect_log = RetryLog(log, f"modbus {name}: connect to {self._where()}")
        base, cap = device_backoff
        self._polls: list[_Poll] = []
        self._devices: dict[int, _Device] = {}
        for block in plan(sensors):
            self._polls.append(_Poll(block, 0.0))
            if block.unit not in self._devices:
                what = f"modbus {name}: unit {block.unit}"
                self._devices[block.unit] = _Device(
                    block.unit, Backoff(base=base, cap=cap, rng=self._rng), RetryLog(log, what)
                )
        self._connected = False
        self._started = False
        self._last_error = ""
        self._received = False  # bytes arrived during the current request (CRC detection)
        self._line = RtuLine(clock, settings.timeout) if settings.is_rtu else None
        self.bus = ModbusBus(self._where(), settings, clock, self._line)
        self.counters: dict[str, int] = {}
        for unit in self._devices:
            DEVICE_UP.labels(connection=name, unit=str(unit)).set(0)

    # --- Driver ------------------------------------------------------------------------

    async def run(self, sink: ReadingSink) -> None:
        """Poll until cancelled, reopening the connection with backoff whenever it drops."""
        start = self._clock.monotonic()
        for poll in self._polls:
            poll.due = start + self._rng.uniform(0.0, min(poll.block.poll, self._spread))
        try:
            while True:
                async with self.bus.turn():  # a write in flight ends before the port is reopened
                    connected = await self._connect()
                    self.bus.attempted()
                if connected:
                    await self._poll_while_connected(sink)
                    self._set_disconnected("connection lost")
                await self._clock.sleep(self._reconnect.next_delay())
        finally:
            self._close()
            self._connected = False

    def health(self) -> Health:
        counters = dict(self.counters)
        if not self._started:
            return Health("starting", f"connecting to {self._where()}", counters)
        if not self._connected:
            return Health("disconnected", f"{self._where()}: {self._last_error}", counters)
        down = [d for d in self._devices.values() if not d.up and d.error]
        failing = [p for p in self._polls if p.error]
        if not down and not failing:
            return Health("connected", self._where(), counters)
        detail = "; ".join(
            [f"unit {d.unit} down: {d.error}" for d in down]
            + [f"{p.block.describe()}: {p.error}" for p in failing]
        )
        return Health("degraded", detail, counters)

    # --- connection --------------------------------------------------------------------

    def _where(self) -> str:
        if self.settings.is_rtu:
            return str(self.settings.serial_options()["port"])
        return f"{self.settings.host}:{self.settings.port}"

    def _make_client(self) -> Any:
        common: dict[str, Any] = {
            "timeout": self.settings.timeout,
            "retries": self.settings.retries,
            "reconnect_delay": 0,  # we reconnect ourselves, with our backoff
            "trace_packet": self._trace_packet,
            "trace_pdu": self._trace_pdu,
            "name": self.name,
        }
        if self.settings.is_rtu:
            return AsyncModbusSerialClient(**self.settings.serial_options(), **common)
        return AsyncModbusTcpClient(self.settings.host, port=self.settings.port, **common)

    async def _connect(self) -> bool:
        self._started = True
        self._close()
        try:
            self.bus.client = self._make_client()
            ok = bool(await self.bus.client.connect())
            error = "" if ok else "cannot connect"
        except Exception as exc:  # noqa: BLE001 -- pymodbus raises many kinds; any is retried
            ok, error = False, f"{type(exc).__name__}: {exc}"
        CONNECTS.labels(connection=self.name, result="ok" if ok else "failed").inc()
        key = "connect_ok" if ok else "connect_failed"
        self.counters[key] = self.counters.get(key, 0) + 1
        if not ok:
            self._reconnect_log.failed(error or "cannot connect")
            self._set_disconnected(error or "cannot connect")
            return False
        self._reconnect_log.succeeded()
        self._reconnect.reset()
        self._connected = True
        self._last_error = ""
        return True

    def _close(self) -> None:
        if self.bus.client is not None:
            client, self.bus.client = self.bus.client, None
            try:
                client.close()
            except Exception as exc:  # noqa: BLE001 -- closing must not mask the real error
                log.debug("modbus %s: close failed: %s", self.name, exc)

    def _set_disconnected(self, error: str) -> None:
        self._connected = False
        self._last_error = error
        self.bus.error = error
        for device in self._devices.values():
            self._mark_down(device, error)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending and data:
            self._received = True
        if self._line is not None:
            self._line.packet(sending, data)
        return data

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending and self._line is not None:
            self._line.received(pdu)
        return pdu

    # --- polling -----------------------------------------------------------------------

    async def _poll_while_connected(self, sink: ReadingSink) -> None:
        while self.bus.client is not None and self.bus.client.connected:
            raise_if_cancelled()  # pymodbus's wait_for may have swallowed a stop (3.11)
            if not self._polls:
                await self._clock.sleep(3600.0)
                continue
            now = self._clock.monotonic()
            poll = min(self._polls, key=lambda p: p.due)
            if poll.due > now:
                await self._clock.sleep(poll.due - now)
                continue
            poll.due = self._next_due(poll, now)
            device = self._devices[poll.block.unit]
            if now < device.retry_at or now < poll.retry_at:
                continue  # backing off: this unit (or request) waits, the others go on
            async with self.bus.turn():  # never in the middle of an output's coil write
                if not await self._poll(poll, device, sink):
                    return

    def _next_due(self, poll: _Poll, now: float) -> float:
        interval = poll.block.poll * (1.0 + self._rng.uniform(-_JITTER, _JITTER))
        due = poll.due + interval
        return due if due > now else now + interval

    async def _poll(self, poll: _Poll, device: _Device, sink: ReadingSink) -> bool:
        """Read one block; False when the connection is gone."""
        block = poll.block
        try:
            values = await self._read(block)
        except Failure as failure:
            self._count(failure.result)
            if self._line is not None and failure.result != "exception":
                self._line.failed()
            if failure.code in REQUEST_ERRORS:
                self._request_failed(poll, failure)
            else:
                # Every poll without a reading is a failed attempt of its unit, also the one
                # whose connection pymodbus closed: the recovery line counts them all.
                self._device_failed(device, block, str(failure))
            if failure.result == "connection_error":
                self._last_error = str(failure)
                return False
            return True
        self._count("ok")
        self._device_ok(device)
        if poll.error:
            log.info("modbus %s: %s recovered", self.name, block.describe())
        poll.error, poll.retry_at = "", 0.0
        poll.backoff.reset()
        readings, rejects = self._decode(block, values)
        if readings or rejects:
            sink.submit(readings, rejects)
        return True

    async def _read(self, block: Block) -> list[int]:
        client = self.bus.client
        method = {
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
            "input": client.read_input_registers,
            "holding": client.read_holding_registers,
        }[block.table]
        if self._line is not None:
            await self._line.settle()
        self._received = False
        try:
            response = await method(block.address, count=block.count, **{_UNIT: block.unit})
        except ConnectionException as exc:
            raise Failure("connection_error", f"not connected: {exc}") from None
        except (ModbusException, TimeoutError) as exc:
            if not client.connected:
                raise Failure("connection_error", f"connection lost: {exc}") from None
            if self._received:
                raise Failure("crc_error", "invalid frame (CRC error or garbage)") from None
            raise Failure("timeout", f"no response within {self.settings.timeout:g}s") from None
        except OSError as exc:
            raise Failure("connection_error", f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 -- whatever the wire did: start afresh
            log.warning("modbus %s: unexpected error, reconnecting: %r", self.name, exc)
            raise Failure("connection_error", f"{type(exc).__name__}: {exc}") from None
        if self._line is not None and not await self._line.came_alone():
            raise Failure("mismatch", "more than one answer to one request (a late one): dropped")
        return values_of(block, response)

    def _decode(self, block: Block, values: list[int]) -> tuple[list[Reading], list[Reject]]:
        received = self._clock.time()
        readings: list[Reading] = []
        rejects: list[Reject] = []
        for sensor in block.sensors:
            source = source_of(sensor)
            words = block.slice_for(source, values)
            type_ = "bool" if block.bits else source.type
            raw = decode(words, type_, source.byte_order, source.word_order)
            value = raw * source.scale + source.offset
            if not math.isfinite(value):
                rejects.append(
                    Reject(
                        source=f"modbus:{self.name}/{source.unit}/{source.register_}",
                        reason=f"{sensor.id}: {source.type} value {raw!r} is not a number",
                        payload=" ".join(f"{w:04x}" for w in words).encode(),
                        received=received,
                    )
                )
                continue
            readings.append(Reading(sensor, sensor.id, value, received))
        return readings, rejects

    # --- bookkeeping -------------------------------------------------------------------

    def _count(self, result: Result) -> None:
        REQUESTS.labels(connection=self.name, result=result).inc()
        self.counters[result] = self.counters.get(result, 0) + 1

    def _device_ok(self, device: _Device) -> None:
        device.retry.succeeded()
        device.backoff.reset()
        device.retry_at = 0.0
        device.error = ""
        if not device.up:
            device.up = True
            DEVICE_UP.labels(connection=self.name, unit=str(device.unit)).set(1)

    def _device_failed(self, device: _Device, block: Block, error: str) -> None:
        ids = ", ".join(s.id for s in block.sensors)
        device.retry.failed(f"{block.table} {block.address}+{block.count} ({ids}): {error}")
        device.retry_at = self._clock.monotonic() + device.backoff.next_delay()
        self._mark_down(device, error)

    def _mark_down(self, device: _Device, error: str) -> None:
        device.error = error
        if device.up:
            device.up = False
            DEVICE_UP.labels(connection=self.name, unit=str(device.unit)).set(0)

    def _request_failed(self, poll: _Poll, failure: Failure) -> None:
        block, error = poll.block, str(failure)
        if len(block.sensors) > 1 and failure.code == 2:
            # Some devices refuse reads that span unmapped addresses: ask for each sensor alone.
            log.warning(
                "modbus %s: %s refused (%s); reading its sensors one by one",
                self.name,
                block.describe(),
                error,
            )
            self._polls.remove(poll)
            self._polls.extend(_Poll(b, poll.due) for b in split(block))
            return
        if not poll.error:
            ids = ", ".join(s.id for s in block.sensors)
            log.warning("modbus %s: %s (%s) failed: %s", self.name, block.describe(), ids, error)
        poll.error = error
        poll.retry_at = self._clock.monotonic() + poll.backoff.next_delay()
