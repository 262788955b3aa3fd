from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.entry import Entry
from edge.log import DurableLog
from edgeconfig import Config, Gateway, Sync
from runtime import events
from runtime.backoff import Backoff
from runtime.clock import SystemClock
from sync.uploader import Uploader
from tests.sync.fake_central import FakeCentral

GATEWAY = "lab3-edge-01"


@pytest.fixture
def central() -> Iterator[FakeCentral]:
    server = FakeCentral()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sync_config(
    tmp_path: Path,
    url: str,
    token_file: Path | None,
    *,
    batch_max: int = 500,
    interval: str = "50ms",
) -> Config:
    return Config(
        gateway=Gateway(id=GATEWAY, data_dir=tmp_path),
        sync=Sync.model_validate(
            {
                "url": url,
                "token_file": token_file,
                "batch_max": batch_max,
                "interval": interval,
                "timeout": "5s",
            }
        ),
    )


def readings(count: int, start: int = 0, subject: str = "ult-F12.temp") -> list[Entry]:
    """`count` readings with distinct sensor times."""
    now = time.time()
    return [
        Entry(
            events.READING,
            subject,
            now - 1000 + (start + i) * 0.001,
            now,
            {"value": -80.0 + (i % 10) * 0.1, "unit": "degC", "quantity": "temperature"},
        )
        for i in range(count)
    ]


def fast_uploader(config: Config, log: DurableLog, *, in_flight: int = 3) -> Uploader:
    """An uploader whose retries take milliseconds, not seconds."""
    return Uploader(
        config,
        log,
        SystemClock(),
        in_flight=in_flight,
        backoff=Backoff(base=0.01, cap=0.1),
        slow_backoff=Backoff(base=0.02, cap=0.2),
    )


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a condition with a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(uploader: Uploader) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(uploader.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=10)
        if not task.done():
            raise RuntimeError("the uploader did not stop within 10 s of being cancelled")
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def opened_log(tmp_path: Path) -> AsyncIterator[DurableLog]:
    log = DurableLog.open(tmp_path / "log.db", cursors=("redis", "sync"))
    try:
        yield log
    finally:
        await log.close()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())
