"""Shared by the Redis publisher, gateway events, intake and doc-consumer tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from edge.entry import Entry
from edgeconfig import Config
from runtime import events
from runtime.health import Health

GATEWAY = "lab3-edge-01"


def make_config(tmp_path: Path, redis_port: int | None = None, **redis: Any) -> Config:
    """A minimal gateway config (validated like sensors.yaml) with an optional Redis."""
    data: dict[str, Any] = {"gateway": {"id": GATEWAY, "site": "lab-3", "data_dir": tmp_path}}
    if redis_port is not None:
        data["redis"] = {"url": f"redis://127.0.0.1:{redis_port}/0", **redis}
    return Config.model_validate(data)


def reading(sensor: str, value: float, received: float | None = None) -> Entry:
    data = {"value": value, "unit": "degC", "quantity": "temperature", "kind": "freezer"}
    return Entry(events.READING, sensor, None, received or time.time(), data)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(component: Any) -> AsyncIterator[Any]:
    """Run a Component's `run()` in a task for the block; a crash fails the test."""
    task: asyncio.Task[None] = asyncio.create_task(component.run())
    try:
        yield component
        if task.done():
            task.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def state(component: Any) -> str:
    health: Health = component.health()
    return health.state
