"""Redis outages: down at start, restarted (data lost) while running. No restart loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from redis import Redis

from analytics.consumer import Processor
from tests.analytics.scenario import FREEZER_ALARMS, Gateway, freezer, publish
from tests.servers import Server

STREAM = "tracseq:events"


async def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def freezer_events(seconds: float, start_seq: int = 0) -> Gateway:
    gw = Gateway(seq=start_seq)
    gw.describe("ult-F1.temp", FREEZER_ALARMS)
    freezer(gw, "ult-F1.temp", lambda s: -80.0, seconds)
    return gw


async def test_redis_down_at_start_then_up_recovers_without_exiting(
    redis_server: Server, make_processor: Callable[..., Processor]
) -> None:
    redis_server.stop()
    processor = make_processor()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(processor.run())
        await wait_for(lambda: processor.status.redis == "down")
        assert "Connection" in (processor.status.error or "")
        assert processor.metrics.redis_up._value.get() == 0
        redis_server.start()
        gw = freezer_events(600.0)
        publish(Redis(port=redis_server.port), STREAM, gw.events)
        await wait_for(lambda: processor.status.processed == len(gw.events))
        assert processor.status.redis == "up"
        assert not task.done()
        task.cancel()


async def test_redis_restart_losing_stream_and_group_is_survived(
    redis_server: Server, redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    processor = make_processor()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(processor.run())
        first = freezer_events(600.0)
        publish(redis_client, STREAM, first.events)
        await wait_for(lambda: processor.status.processed == len(first.events))
        redis_server.restart()  # no persistence: stream, group and state are gone
        second = freezer_events(600.0, start_seq=first.seq)
        with contextlib.suppress(Exception):
            redis_client.connection_pool.disconnect()
        publish(redis_client, STREAM, second.events)
        total = len(first.events) + len(second.events)
        await wait_for(lambda: processor.status.processed == total)
        assert redis_client.xpending(STREAM, "tracseq-analytics")["pending"] == 0
        task.cancel()
