"""Who watches the watcher: `--heartbeat-url` is called every minute while central is healthy.

A dead man's switch (Healthchecks, Uptime Kuma push monitors, an Alertmanager watchdog)
raises its own alarm when the calls stop, so central's death is noticed outside it.
Healthy: the database answers and the notification sender is running. A failed call is
logged once (and its recovery), never retried in a hurry: the next minute is the retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from runtime.backoff import RetryLog

log = logging.getLogger("tracseq.central.heartbeat")


async def run(url: str, healthy: Callable[[], Awaitable[bool]], interval: float = 60.0) -> None:
    retry = RetryLog(log, f"calling the heartbeat URL {url}")
    async with httpx.AsyncClient() as client:
        while True:
            if await healthy():
                try:
                    response = await client.get(url, timeout=10.0)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    retry.failed(f"{type(exc).__name__}: {exc}")
                else:
                    retry.succeeded()
            await asyncio.sleep(interval)
