"""A consumer written only from docs/events.md reads every event the gateway publishes.

The consumer is the Python example of docs/events.md itself, cut out of the document
and run against a real gateway log, publisher and redis-server: one consumer crashes
mid-batch, a second takes over its pending entries, Redis restarts empty in between.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from edge.gateway_events import GatewayEvents
from edge.log import DurableLog
from edge.redis_publisher import RedisPublisher
from runtime.clock import SystemClock
from tests.edge.events_support import GATEWAY, eventually, make_config, reading, running
from tests.servers import Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def doc_consumer() -> dict[str, Any]:
    """The namespace of the doc's consumer example (ensure_group, consume)."""
    text = DOC.read_text()
    block = re.search(
        r"<!-- consumer-example: start -->\s*```python\n(.*?)```\s*<!-- consumer-example: end -->",
        text,
        re.S,
    )
    assert block is not None, "docs/events.md lost its consumer example"
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace


class Crash(Exception):
    pass


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[DurableLog]:
    the_log = DurableLog.open(tmp_path / "log.db", cursors=("redis",))
    try:
        yield the_log
    finally:
        await the_log.close()


async def test_doc_consumer_group_reads_every_event_once(
    tmp_path: Path, redis_server: Server, log: DurableLog
) -> None:
    doc = doc_consumer()
    config = make_config(tmp_path, redis_server.port)
    clock = SystemClock()
    await GatewayEvents(config, log, clock).start()
    await log.append([reading(f"f{n % 3}.temp", -80 + n / 100) for n in range(300)])
    handled: list[str] = []
    seen: set[str] = set()  # the service's record of handled ids (its database)
    client = redis.Redis(port=redis_server.port)

    def handle_until_crash(limit: int) -> Callable[[dict[str, Any]], None]:
        def handle(event: dict[str, Any]) -> None:
            if len(handled) == limit:
                raise Crash("consumer a dies in the middle of a batch")
            assert event["source"] == f"tracseq-edge/{GATEWAY}"
            assert event["data"]["seq"] == int(event["id"].rsplit(":", 1)[1])
            handled.append(event["id"])

        return handle

    publisher = RedisPublisher(config, log, clock)
    async with running(publisher):
        await eventually(lambda: log.cursor("redis") == log.last_seq)
        with pytest.raises(Crash):
            await asyncio.to_thread(
                doc["consume"], client, "audit", "a", handle_until_crash(150), seen, lambda: False
            )
        assert len(handled) == 150
        pending = client.xpending("tracseq:events", "audit")
        assert pending["pending"] > 0  # delivered to a, never acknowledged

        stop = threading.Event()
        consumer_b = asyncio.create_task(
            asyncio.to_thread(
                doc["consume"],
                redis.Redis(port=redis_server.port),
                "audit",
                "b",
                handle_until_crash(-1),
                seen,
                stop.is_set,
                claim_idle_ms=100,
                block_ms=100,
            )
        )
        try:
            await log.append([reading("f9.temp", n) for n in range(200)])
            await eventually(lambda: len(handled) >= 400, timeout=20)
            await asyncio.to_thread(redis_server.restart)  # no persistence: all gone
            await log.append([reading("f9.temp", n) for n in range(50)])
            expected = {f"{GATEWAY}:{seq}" for seq in range(1, log.last_seq + 1)}
            await eventually(lambda: set(handled) >= expected, timeout=30)
        finally:
            stop.set()
            await consumer_b
    assert sorted(handled, key=lambda i: int(i.rsplit(":", 1)[1])) == sorted(
        expected, key=lambda i: int(i.rsplit(":", 1)[1])
    )  # every event handled exactly once
    assert publisher.republished > 0  # the restart really made the gateway re-send
