"""A real DurableLog behind a real Pipeline, for driver tests to assert on what was committed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from drivers.base import Driver
from edge.entry import Stored
from edge.log import DurableLog
from edge.pipeline import Pipeline


@dataclass
class Committed:
    log: DurableLog
    pipeline: Pipeline

    async def readings(self, subject: str | None = None) -> list[Stored]:
        entries = await self.log.read(0, 1_000_000)
        return [e for e in entries if subject is None or e.subject == subject]

    async def values(self, subject: str) -> list[float]:
        return [e.data["value"] for e in await self.readings(subject)]

    def rejects(self) -> list[tuple[str, str, bytes]]:
        with sqlite3.connect(self.log.path) as conn:
            rows = conn.execute("SELECT source, reason, payload FROM rejects ORDER BY id")
            return [(s, r, bytes(p)) for s, r, p in rows]


@asynccontextmanager
async def committed_log(tmp_path: Path) -> AsyncIterator[Committed]:
    log = DurableLog.open(tmp_path / "log.db")
    try:
        yield Committed(log, Pipeline(log))
    finally:
        await log.close()


@asynccontextmanager
async def running(driver: Driver, sink: Pipeline) -> AsyncIterator[asyncio.Task[None]]:
    """The driver's `run` as a task, cancelled on exit (as the supervisor does at shutdown)."""
    task = asyncio.create_task(driver.run(sink))
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0
) -> None:
    """Wait for a condition with a deadline (no sleeps to let things settle)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
