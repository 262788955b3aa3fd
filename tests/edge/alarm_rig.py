"""A rule engine on a real DurableLog in a temp dir, driven by a ManualClock.

`reading()` commits a reading through the normaliser exactly as a driver's would and waits
until the engine has evaluated it; `advance()` moves the clock and waits until every timer
that became due has fired and committed. Hours of alarm timelines run in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.base import Driver, Reading
from drivers.registry import build_coil_writer
from edge.alarms import RuleEngine
from edge.alarms.sensors import SensorIndex
from edge.entry import Entry, Stored
from edge.log import DurableLog
from edge.normalize import normalize
from edge.outputs import AlarmOutput
from edgeconfig import Config, load_config
from runtime import events
from runtime.clock import ManualClock, SystemClock
from tests.conftest import CONTRACT_EXAMPLE

ALARM_TYPES = (events.ALARM_RAISED, events.ALARM_CLEARED)


def contract_config() -> Config:
    return load_config(CONTRACT_EXAMPLE)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition with a deadline (yielding to the loop, never sleeping blindly)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.001)


@dataclass
class Rig:
    path: Path
    config: Config = field(default_factory=contract_config)
    clock: ManualClock = field(default_factory=ManualClock)
    log: DurableLog | None = None
    engine: RuleEngine | None = None
    task: asyncio.Task[None] | None = None

    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.clock.time()

    async def open(self) -> Rig:
        self.log = DurableLog.open(self.path / "log.db", cursors=("redis", "sync"))
        self.engine = RuleEngine(self.config, self.log, self.clock)
        self.task = asyncio.create_task(self.engine.run())
        await wait_for(lambda: self.engine is not None and self.engine.health().ready)
        await self.settle()
        return self

    async def stop(self) -> None:
        """Stop the engine and close the log, as a daemon restart does."""
        assert self.task is not None and self.log is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.log.close()

    async def restart(self, config: Config | None = None) -> None:
        await self.stop()
        if config is not None:
            self.config = config
        await self.open()

    async def settle(self, seq: int = 0) -> None:
        engine = self.engine
        assert engine is not None
        await wait_for(lambda: engine.evaluated_seq >= seq and engine.idle)

    async def commit(self, sensor_id: str, value: float, *, at: float | None = None) -> int:
        """Commit one reading (sensor time = now unless `at`) without evaluating it."""
        assert self.log is not None
        sensor = SensorIndex(self.config.sensors).resolve(sensor_id)
        assert sensor is not None
        now = self.clock.time()
        entry = normalize(Reading(sensor, sensor_id, value, now, at if at else now), "test")
        assert isinstance(entry, Entry)
        seqs = await self.log.append([entry])
        assert seqs[0] is not None
        return seqs[0]

    async def reading(self, sensor_id: str, value: float, *, at: float | None = None) -> None:
        await self.settle(await self.commit(sensor_id, value, at=at))

    async def advance(self, seconds: float, *, step: float = 5.0) -> None:
        """Move the clock in `step`s, letting due timers fire at each one."""
        while seconds > 1e-9:
            move = min(step, seconds)
            self.clock.advance(move)
            seconds -= move
            await self.settle()

    async def alarms(self, sensor: str | None = None, rule: str | None = None) -> list[Stored]:
        assert self.log is not None
        found = [s for s in await self.log.read(0, 1_000_000) if s.type in ALARM_TYPES]
        return [
            s
            for s in found
            if (sensor is None or s.subject == sensor)
            and (rule is None or s.data.get("rule") == rule)
        ]


def kinds(alarms: list[Stored]) -> list[str]:
    return ["raised" if a.type == events.ALARM_RAISED else "cleared" for a in alarms]


def at(rig: Rig, offset: float) -> str:
    return events.format_time(rig.start + offset)


@contextlib.asynccontextmanager
async def running_output(
    rig: Rig, connection: str, drivers: Sequence[Driver] = ()
) -> AsyncIterator[AlarmOutput]:
    """The config's output `beacon` on `connection`, running on the rig's log (`drivers`:
    the polling drivers it may share a bus with)."""
    assert rig.log is not None
    writer = build_coil_writer(rig.config, connection, drivers)
    output = AlarmOutput(
        "beacon", rig.config.outputs["beacon"], rig.config, rig.log, writer, SystemClock()
    )
    task = asyncio.create_task(output.run())
    try:
        yield output
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
