"""Runs the simulated fleet in real time (or faster) and feeds every output.

    async with run_simulator(SimOptions(speed=60, duration=600.0)) as sim:
        await sim.wait()  # until the duration has played, or sim.stop()

Every tick (`rate` per wall second) advances the fleet by `speed / rate` simulated
seconds, publishes one MQTT message per sensor and writes one LN2 line; the Modbus
devices answer polls from the latest measurement at any time. Ticks are scheduled on a
fixed grid, so the values (not their wall times) depend only on the seed and options.

Payload times follow the wall clock by default (`clock="wall"`): the physics runs
`speed` times faster, the stamps stay real. With `clock="sim"` stamps are simulated
time from `start` (default: now), e.g. to replay a day of history from yesterday.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sim.fleet import Fleet
from sim.modbus_out import ModbusRtuDevice, ModbusTcpDevice
from sim.mqtt_out import MqttPublisher, parse_mqtt_url
from sim.payloads import MqttTelemetry
from sim.record import Recorder
from sim.scenario import Event
from sim.serial_out import Ln2Monitor

log = logging.getLogger("tracseq.sim")


@dataclass
class SimOptions:
    """What to simulate and where to send it; None disables an output."""

    seed: int = 1
    speed: float = 1.0  # simulated seconds per wall second
    rate: float = 1.0  # ticks (messages per sensor) per wall second
    duration: float | None = None  # simulated seconds; None: until stopped
    ult_count: int = 12
    fridge_count: int = 0
    mqtt_url: str | None = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "tracseq-sim"
    modbus_host: str = "127.0.0.1"
    modbus_port: int | None = 5020  # 0: any free port (see Simulator.modbus_port)
    pty_dir: Path | None = Path("var/sim")
    events: list[Event] = field(default_factory=list)
    record: Path | None = None
    clock: Literal["wall", "sim"] = "wall"
    start: float | None = None  # epoch of simulated time 0 when clock="sim"
    drain_timeout: float = 5.0  # wait this long for the broker's last PUBACKs

    def validate(self) -> None:
        """ValueError naming the first bad option."""
        if not 0 < self.speed <= 100_000:
            raise ValueError(f"--speed must be > 0 and <= 100000, not {self.speed}")
        if not 0 < self.rate <= 10_000:
            raise ValueError(f"--rate must be > 0 and <= 10000 messages/s, not {self.rate}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("--duration must be positive")
        if self.modbus_port is not None and not 0 <= self.modbus_port <= 65535:
            raise ValueError(f"--modbus-port must be 0..65535, not {self.modbus_port}")
        if self.mqtt_url is not None:
            parse_mqtt_url(self.mqtt_url)
        if self.clock not in ("wall", "sim"):
            raise ValueError(f"--clock must be wall or sim, not {self.clock!r}")


class Simulator:
    """A running simulation: the fleet, its outputs and their counters."""

    def __init__(self, options: SimOptions) -> None:
        options.validate()
        self.options = options
        self.fleet = Fleet(
            seed=options.seed,
            ult_count=options.ult_count,
            fridge_count=options.fridge_count,
            events=options.events,
        )
        self.recorder = Recorder(options.record)
        self.ticks = 0
        self.start_epoch = options.start if options.start is not None else time.time()
        self.telemetry = MqttTelemetry(self.fleet)
        self.mqtt: MqttPublisher | None = None
        self.modbus_tcp: ModbusTcpDevice | None = None
        self.modbus_rtu: ModbusRtuDevice | None = None
        self.ln2: Ln2Monitor | None = None
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._emitted_at = -1.0  # simulated time of the last tick sent out
        self._ticked = asyncio.Condition()

    @property
    def modbus_port(self) -> int | None:
        """The Modbus TCP port actually listened on (useful with port 0)."""
        return None if self.modbus_tcp is None else self.modbus_tcp.port

    @property
    def rs485_path(self) -> str | None:
        return None if self.modbus_rtu is None else self.modbus_rtu.path

    @property
    def ln2_path(self) -> str | None:
        return None if self.ln2 is None else self.ln2.path

    def stop(self) -> None:
        """Ask the run to end after the current tick (safe from a signal handler)."""
        self._stop.set()

    async def wait(self) -> None:
        """Until the duration has played or stop() was called."""
        await self._done.wait()

    async def until(self, sim_seconds: float) -> None:
        """Until the tick at `sim_seconds` of simulated time went out (or the run ended)."""
        async with self._ticked:
            await self._ticked.wait_for(
                lambda: self._emitted_at >= sim_seconds or self._done.is_set()
            )

    def payload_time(self) -> float:
        if self.options.clock == "sim":
            return self.start_epoch + self.fleet.now
        return time.time()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ticks": self.ticks, "sim_seconds": round(self.fleet.now, 3)}
        if self.mqtt is not None:
            out |= {"mqtt_published": self.mqtt.published, "mqtt_acked": self.mqtt.acked,
                    "mqtt_dropped": self.mqtt.dropped}  # fmt: skip
        if self.modbus_tcp is not None:
            out["modbus_tcp_reads"] = self.modbus_tcp.reads
        if self.modbus_rtu is not None:
            out["modbus_rtu_reads"] = self.modbus_rtu.reads
        if self.ln2 is not None:
            out |= {"serial_lines": self.ln2.lines, "serial_unheard": self.ln2.unheard}
        return out

    async def _open(self) -> None:
        o = self.options
        if o.modbus_port is not None:
            self.modbus_tcp = ModbusTcpDevice(
                self.fleet, self.recorder, o.modbus_host, o.modbus_port
            )
            await self.modbus_tcp.start()
        if o.pty_dir is not None:
            self.modbus_rtu = ModbusRtuDevice(self.fleet, self.recorder, o.pty_dir / "rs485")
            await self.modbus_rtu.start()
            self.ln2 = Ln2Monitor(self.fleet, self.recorder, o.pty_dir / "ln2")
            self.ln2.start()
        if o.mqtt_url is not None:
            self.mqtt = MqttPublisher(o.mqtt_url, self.recorder, client_id=o.mqtt_client_id)
            self.mqtt.start()

    async def _close(self) -> None:
        if self.mqtt is not None:
            if self.mqtt.connected.is_set():  # no broker: nothing will be acknowledged
                await self.mqtt.drain(self.options.drain_timeout)
            await asyncio.to_thread(self.mqtt.stop)
        if self.ln2 is not None:
            self.ln2.stop()
        if self.modbus_rtu is not None:
            await self.modbus_rtu.stop()
        if self.modbus_tcp is not None:
            await self.modbus_tcp.stop()
        self.recorder.close()

    async def _emit(self) -> None:
        if self.mqtt is not None:
            for message in self.telemetry.messages(self.payload_time()):
                self.mqtt.publish(message)
        if self.ln2 is not None:
            self.ln2.tick()
        self.recorder.flush()
        self._emitted_at = self.fleet.now
        async with self._ticked:
            self._ticked.notify_all()

    async def _run(self) -> None:
        """The tick loop: bounded by the duration or stop()."""
        loop = asyncio.get_running_loop()
        o = self.options
        tick_wall, tick_sim = 1.0 / o.rate, o.speed / o.rate
        t0 = loop.time()
        try:
            await self._emit()  # the initial state, at once
            while not self._stop.is_set():
                remaining = None if o.duration is None else o.duration - self.fleet.now
                if remaining is not None and remaining <= 1e-9:
                    break
                self.ticks += 1
                delay = t0 + self.ticks * tick_wall - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    if self._stop.is_set():
                        break
                else:
                    await asyncio.sleep(0)  # behind schedule: catch up, but let I/O run
                self.fleet.advance(tick_sim if remaining is None else min(tick_sim, remaining))
                await self._emit()
        finally:
            self._done.set()
            async with self._ticked:
                self._ticked.notify_all()


@contextlib.asynccontextmanager
async def run_simulator(options: SimOptions) -> AsyncIterator[Simulator]:
    """Start the fleet and its outputs; stop and flush them on exit."""
    sim = Simulator(options)
    try:
        await sim._open()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(sim._run(), name="sim-ticker")
            try:
                yield sim
            finally:
                sim.stop()
    finally:
        await sim._close()
        log.info("simulator stopped: %s", sim.stats())
