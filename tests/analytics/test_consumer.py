"""The consumer group against a real redis-server: sharing, claiming, de-duplication, restarts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from redis import Redis

from analytics.consumer import Processor
from runtime.events import ANALYTICS_PREDICTION, ANALYTICS_SENSOR_FAULT, ANALYTICS_STATUS
from tests.analytics.conftest import drain, outputs
from tests.analytics.scenario import (
    FREEZER_ALARMS,
    T0,
    Gateway,
    compressor_failure,
    freezer,
    publish,
)

STREAM = "tracseq:events"


def fleet(sensors: int = 4, seconds: float = 3600.0) -> Gateway:
    """A gateway with freezers; freezer 0 has a compressor failure at 30 minutes."""
    gw = Gateway()
    for n in range(sensors):
        gw.describe(f"ult-F{n}.temp", FREEZER_ALARMS)
    per_sensor = []
    for n in range(sensors):
        one = Gateway(seq=0)
        profile = compressor_failure(1800.0) if n == 0 else (lambda s: -80.0)
        freezer(one, f"ult-F{n}.temp", profile, seconds, seed=n)
        per_sensor.append(one.events)
    for batch in zip(*per_sensor, strict=True):  # interleaved by time, renumbered
        for event in batch:
            gw.reading(event.subject or "", event.time or T0, event.data["value"])
    return gw


def predictions(redis: Redis) -> list[tuple[str, str]]:
    return [
        (e.data["sensor"], e.data["action"])
        for e in outputs(redis)
        if e.type == ANALYTICS_PREDICTION
    ]


async def test_starts_with_no_stream_and_no_group_then_processes(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    processor = make_processor()
    await drain(processor)  # creates the stream and the group (MKSTREAM)
    assert redis_client.exists(STREAM)
    gw = fleet(sensors=2, seconds=3000.0)
    publish(redis_client, STREAM, gw.events)
    await drain(processor)
    assert processor.status.processed == len(gw.events)
    assert predictions(redis_client) == [("ult-F0.temp", "raised")]
    statuses = [e for e in outputs(redis_client) if e.type == ANALYTICS_STATUS]
    assert {e.data["status"] for e in statuses} >= {"normal", "warning", "critical"}
    assert all(e.source == "tracseq-analytics/a" for e in outputs(redis_client))
    assert redis_client.xpending(STREAM, "tracseq-analytics")["pending"] == 0


async def test_redelivered_and_republished_events_have_no_second_effect(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = fleet(sensors=2, seconds=2400.0)
    publish(redis_client, STREAM, gw.events)
    processor = make_processor()
    await drain(processor)
    before = outputs(redis_client)
    publish(redis_client, STREAM, gw.events[-500:])  # the gateway republishes after a crash
    await drain(processor)
    assert outputs(redis_client) == before
    assert await processor.store.processed() == len(gw.events)


async def test_restart_does_not_reraise_predictions(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = fleet(sensors=2, seconds=3000.0)
    half = len(gw.events) * 3 // 4  # past the prediction, before the end
    publish(redis_client, STREAM, gw.events[:half])
    first = make_processor()
    await drain(first)
    assert predictions(redis_client) == [("ult-F0.temp", "raised")]
    await first.redis.aclose()
    publish(redis_client, STREAM, gw.events[half:])
    second = make_processor()  # same instance name, fresh memory: state comes from Redis
    await drain(second)
    assert predictions(redis_client) == [("ult-F0.temp", "raised")]
    assert await second.store.processed() == len(gw.events)


async def test_entries_of_a_dead_consumer_are_claimed_nothing_lost_nothing_twice(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = fleet(sensors=4, seconds=3600.0)
    publish(redis_client, STREAM, gw.events)
    a = make_processor(instance="a", batch=500)
    b = make_processor(instance="b", batch=500, claim_idle=0.001)
    await a.step()  # creates the group, finds no pending of its own
    # a dies holding a batch: read but never committed
    stolen = redis_client.xreadgroup("tracseq-analytics", "a", {STREAM: ">"}, count=700)
    assert len(stolen[0][1]) == 700
    await a.redis.aclose()
    while True:  # b and a share the rest; b claims a's pending entries
        handled = await b.step()
        if handled == 0 and b.status.pending_replayed:
            pending = redis_client.xpending(STREAM, "tracseq-analytics")["pending"]
            lag = redis_client.xinfo_groups(STREAM)[0]["lag"]
            if pending == 0 and lag == 0:
                break
    assert b.metrics.claimed._value.get() >= 700
    assert await b.store.processed() == len(gw.events)
    assert predictions(redis_client) == [("ult-F0.temp", "raised")]
    ids = Counter(e.id for e in outputs(redis_client))
    assert max(ids.values()) == 1


async def test_two_instances_interleaved_process_every_event_once(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = fleet(sensors=4, seconds=3600.0)
    publish(redis_client, STREAM, gw.events)
    a = make_processor(instance="a", batch=200)
    b = make_processor(instance="b", batch=200)
    idle = 0
    while idle < 4:
        handled = await a.step() + await b.step()
        idle = idle + 1 if handled == 0 else 0
    assert await a.store.processed() == len(gw.events)
    assert a.status.processed + b.status.processed == len(gw.events)
    assert a.status.processed > 0 and b.status.processed > 0
    raised = [p for p in predictions(redis_client) if p[1] == "raised"]
    assert raised == [("ult-F0.temp", "raised")]


async def test_bad_entries_are_kept_aside_and_acknowledged(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    redis_client.xadd(STREAM, {"specversion": "1.0", "id": "x"})  # no source, no type
    redis_client.xadd(STREAM, {"data": "{not json"})
    gw = Gateway()
    gw.reading("ult-F1.temp", T0, "warm")  # type: ignore[arg-type]
    publish(redis_client, STREAM, gw.events)
    processor = make_processor()
    await drain(processor)
    rejects = redis_client.xrange("tracseq:analytics:rejects")
    reasons = [fields[b"reason"].decode() for _id, fields in rejects]
    assert len(reasons) == 3
    assert any("data.value" in r and "ult-F1.temp" in r for r in reasons)
    assert redis_client.xpending(STREAM, "tracseq-analytics")["pending"] == 0
    assert processor.metrics.errors.labels("rejected")._value.get() == 3


async def test_stale_when_silent_longer_than_the_offline_rule(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = Gateway()
    gw.describe("ult-F1.temp", FREEZER_ALARMS)
    freezer(gw, "ult-F1.temp", lambda s: -80.0, 300.0)
    for minute in range(1, 6):  # the gateway lives on, the sensor is silent
        gw.heartbeat(T0 + 300.0 + minute * 60.0)
    publish(redis_client, STREAM, gw.events)
    processor = make_processor()
    await drain(processor)
    statuses = [e.data["status"] for e in outputs(redis_client) if e.type == ANALYTICS_STATUS]
    assert statuses == ["normal", "stale"]


async def test_stuck_sensor_is_flagged_through_the_stream(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = Gateway()
    gw.describe("ult-F1.temp", FREEZER_ALARMS)
    for i in range(450):
        gw.reading("ult-F1.temp", T0 + i * 5.0, -80.13)
    publish(redis_client, STREAM, gw.events)
    processor = make_processor()
    await drain(processor)
    faults = [e.data for e in outputs(redis_client) if e.type == ANALYTICS_SENSOR_FAULT]
    assert [(f["fault"], f["state"]) for f in faults] == [("stuck", "raised")]


async def test_a_takeover_at_the_onset_of_a_slow_failure_raises_it_once(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    # The kill -9 test's failing freezer (0.1 degC/min); a dies holding the readings of
    # 1800-1895 s, b goes on, c claims them later: their readings judge nothing by then.
    gw = Gateway()
    gw.describe("ult-F0.temp", FREEZER_ALARMS)
    freezer(gw, "ult-F0.temp", compressor_failure(1800.0, 0.1), 4000.0, seed=13)
    publish(redis_client, STREAM, gw.events)
    a = make_processor(instance="a", batch=1 + 360)
    while a.status.processed < 361:
        await a.step()
    held = redis_client.xreadgroup("tracseq-analytics", "a", {STREAM: ">"}, count=20)
    assert held[0][1][0][1][b"time"].decode().endswith("T00:30:00.000Z")
    await a.redis.aclose()
    b = make_processor(instance="b", batch=20, claim_idle=3600.0)
    await drain(b)
    c = make_processor(instance="c", claim_idle=0.001)
    await drain(c)
    assert c.metrics.claimed._value.get() == 20
    assert await c.store.processed() == len(gw.events)
    episode = [p for p in predictions(redis_client) if p[1] != "updated"]
    assert episode == [("ult-F0.temp", "raised")]  # before: raised, cleared, raised
