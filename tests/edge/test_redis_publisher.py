"""The Redis publisher against a real private redis-server: order, outages, lost streams."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aredis
from prometheus_client import REGISTRY, generate_latest

from edge.entry import Entry
from edge.log import DurableLog
from edge.redis_publisher import RedisPublisher, marker_key
from runtime import events
from runtime.clock import SystemClock
from tests.edge.events_support import GATEWAY, eventually, make_config, reading, running, state
from tests.servers import Server

STREAM = "tracseq:events"
# The contract's scenario stops Redis for 60 s; tests compress that to a few seconds
# (TRACSEQ_REDIS_OUTAGE_S=60 runs the full minute).
OUTAGE_S = float(os.environ.get("TRACSEQ_REDIS_OUTAGE_S", "3"))


@pytest.fixture
async def client(redis_server: Server) -> AsyncIterator[aredis.Redis]:
    conn = aredis.Redis(port=redis_server.port)
    try:
        yield conn
    finally:
        await conn.aclose()


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[DurableLog]:
    the_log = DurableLog.open(tmp_path / "log.db", cursors=("redis",))
    try:
        yield the_log
    finally:
        await the_log.close()


async def stream_ids(client: aredis.Redis) -> list[str]:
    entries = await client.xrange(STREAM)
    return [fields[b"id"].decode() for _, fields in entries]


def expected_ids(first: int, last: int) -> list[str]:
    return [f"{GATEWAY}:{seq}" for seq in range(first, last + 1)]


async def test_stream_entries_are_the_contract_envelope_in_seq_order(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    config = make_config(tmp_path, redis_server.port)
    await log.append([reading("ult-F12.temp", -80.0 - i / 10) for i in range(2500)])
    alarm = Entry(events.ALARM_RAISED, "ult-F12.temp", None, 1.8e9, {"rule": "high"}, True)
    await log.append([alarm])
    publisher = RedisPublisher(config, log, SystemClock())
    async with running(publisher):
        await eventually(lambda: log.cursor("redis") == 2501)
        assert state(publisher) == "connected"
    assert await stream_ids(client) == expected_ids(1, 2501)
    stored = await log.read(0, 1)
    _, fields = (await client.xrange(STREAM, count=1))[0]
    assert {k.decode(): v.decode() for k, v in fields.items()} == stored[0].to_event(
        GATEWAY
    ).to_stream_fields()
    last = events.parse_stream_fields((await client.xrevrange(STREAM, count=1))[0][1])
    assert (last.type, last.data["rule"], last.data["seq"]) == (events.ALARM_RAISED, "high", 2501)
    assert await client.get(marker_key(STREAM, GATEWAY)) == b"2501"


async def test_new_commits_are_published_as_they_happen(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    publisher = RedisPublisher(make_config(tmp_path, redis_server.port), log, SystemClock())
    async with running(publisher):
        for i in range(20):
            await log.append([reading("fridge-1.temp", 4.0 + i)])
            await eventually(lambda i=i: log.cursor("redis") == i + 1)
        assert await stream_ids(client) == expected_ids(1, 20)
        assert publisher.health().counters["pending"] == 0
        metrics = generate_latest(REGISTRY).decode()
        assert 'tracseq_edge_log_pending_events{cursor="redis"} 0.0' in metrics
        assert "tracseq_edge_redis_connected 1.0" in metrics
        assert "tracseq_edge_redis_published_total" in metrics


async def test_redis_outage_during_10000_readings_loses_nothing(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    """Redis stops for OUTAGE_S while 10,000 readings stream in, then restarts empty
    (no persistence): the stream ends with every event, in seq order, without gaps."""
    config = make_config(tmp_path, redis_server.port)
    publisher = RedisPublisher(config, log, SystemClock())
    total, batch = 10_000, 50
    stopped = asyncio.Event()

    async def produce() -> None:
        for start in range(0, total, batch):
            await log.append([reading(f"s{n % 7}.temp", n) for n in range(start, start + batch)])
            if start == 2000:
                await stopped.wait()  # keep producing only once Redis is down
            await asyncio.sleep(0.01)

    async with running(publisher):
        producer = asyncio.create_task(produce())
        await eventually(lambda: log.cursor("redis") >= 2000)
        await asyncio.to_thread(redis_server.stop)
        stopped.set()
        await eventually(lambda: state(publisher) == "disconnected")
        await asyncio.sleep(OUTAGE_S)  # the outage itself, not a wait for settling
        assert log.pending("redis") > 0
        await asyncio.to_thread(redis_server.start)
        await producer
        await eventually(lambda: log.cursor("redis") == total, timeout=30)
        assert state(publisher) == "connected"
    assert await stream_ids(client) == expected_ids(1, total)
    assert publisher.republished >= 2000  # the restarted Redis had lost the first part


async def test_stream_lost_on_restart_is_rebuilt_from_the_log(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    publisher = RedisPublisher(make_config(tmp_path, redis_server.port), log, SystemClock())
    await log.append([reading("a.temp", n) for n in range(300)])
    async with running(publisher):
        await eventually(lambda: log.cursor("redis") == 300)
        await asyncio.to_thread(redis_server.restart)  # no persistence: everything is gone
        await log.append([reading("a.temp", n) for n in range(300, 310)])
        await eventually(lambda: log.cursor("redis") == 310)
        await eventually(lambda: publisher.republished == 300)
    assert await stream_ids(client) == expected_ids(1, 310)


async def test_deleted_stream_is_noticed_even_without_a_reconnect(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    publisher = RedisPublisher(make_config(tmp_path, redis_server.port), log, SystemClock())
    await log.append([reading("a.temp", n) for n in range(50)])
    async with running(publisher):
        await eventually(lambda: log.cursor("redis") == 50)
        await client.delete(STREAM)
        await log.append([reading("a.temp", 51)])
        await eventually(lambda: publisher.republished == 50)
        await eventually(lambda: log.cursor("redis") == 51)
    assert await stream_ids(client) == expected_ids(1, 51)


async def test_stream_behind_the_cursor_gets_the_missing_tail_again(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    """Redis restored from an older snapshot: the marker says 80, we had sent 100."""
    publisher = RedisPublisher(make_config(tmp_path, redis_server.port), log, SystemClock())
    await log.append([reading("a.temp", n) for n in range(100)])
    async with running(publisher):
        await eventually(lambda: log.cursor("redis") == 100)
        tail = await client.xrange(STREAM, min="-", max="+")
        await client.xdel(STREAM, *[entry_id for entry_id, _ in tail[80:]])
        await client.set(marker_key(STREAM, GATEWAY), 80)
        await log.append([reading("a.temp", 101)])
        await eventually(lambda: publisher.republished == 20)
        await eventually(lambda: log.cursor("redis") == 101)
    assert await stream_ids(client) == expected_ids(1, 101)


async def test_batch_confirmed_by_redis_but_not_recorded_is_not_sent_twice(
    tmp_path: Path, redis_server: Server, client: aredis.Redis
) -> None:
    """A crash between Redis's confirmation and the cursor's commit: the restarted
    gateway (same log contents, cursor 0) finds the marker and skips what Redis has."""
    config = make_config(tmp_path, redis_server.port)
    entries = [reading("a.temp", n, received=1.8e9 + n) for n in range(40)]
    first = DurableLog.open(tmp_path / "a.db", cursors=("redis",))
    second = DurableLog.open(tmp_path / "b.db", cursors=("redis",))
    try:
        await first.append(entries)
        await second.append(entries)
        async with running(RedisPublisher(config, first, SystemClock())):
            await eventually(lambda: first.cursor("redis") == 40)
        await second.append([reading("a.temp", 99)])
        publisher = RedisPublisher(config, second, SystemClock())
        async with running(publisher):
            await eventually(lambda: second.cursor("redis") == 41)
        assert publisher.published == 1
    finally:
        await first.close()
        await second.close()
    assert await stream_ids(client) == expected_ids(1, 41)


async def test_starts_while_redis_is_down_and_catches_up(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    await asyncio.to_thread(redis_server.stop)
    publisher = RedisPublisher(make_config(tmp_path, redis_server.port), log, SystemClock())
    await log.append([reading("a.temp", n) for n in range(10)])
    async with running(publisher):
        await eventually(lambda: state(publisher) == "disconnected")
        assert "ConnectionError" in publisher.health().detail
        await asyncio.to_thread(redis_server.start)
        await eventually(lambda: log.cursor("redis") == 10, timeout=40)
        assert state(publisher) == "connected"
    assert await stream_ids(client) == expected_ids(1, 10)


async def test_maxlen_trims_the_stream_approximately(
    tmp_path: Path, redis_server: Server, client: aredis.Redis, log: DurableLog
) -> None:
    config = make_config(tmp_path, redis_server.port, maxlen=1000, batch_max=500)
    await log.append([reading("a.temp", n) for n in range(5000)])
    async with running(RedisPublisher(config, log, SystemClock())):
        await eventually(lambda: log.cursor("redis") == 5000)
    length = await client.xlen(STREAM)
    assert 1000 <= length < 5000
    assert (await stream_ids(client))[-1] == f"{GATEWAY}:5000"


async def test_cancel_always_stops_the_publisher(
    tmp_path: Path,
    redis_server: Server,
    log: DurableLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shutdown must work whenever it comes, also in the middle of a Redis command (redis-py
    sends through asyncio.wait_for, which on 3.11 can swallow a cancellation)."""
    monkeypatch.setattr("edge.redis_publisher.IDLE_CHECK_S", 0.001)  # PING all the time
    config = make_config(tmp_path, redis_server.port)
    rng = random.Random(7)
    for _ in range(40):
        publisher = RedisPublisher(config, log, SystemClock())
        task = asyncio.create_task(publisher.run())
        await eventually(lambda p=publisher: state(p) == "connected")
        await asyncio.sleep(rng.uniform(0, 0.005))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the publisher ignored its cancellation"
