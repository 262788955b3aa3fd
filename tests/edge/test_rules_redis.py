"""Alarms on the Redis stream: the rule engine and the Redis publisher against a real
redis-server, time compressed with a ManualClock. A consumer sees the raise at the
5-minute mark, in seq order with the readings, in the contract's envelope."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aredis

from edge.redis_publisher import RedisPublisher
from edgeconfig import Redis
from runtime import events
from tests.edge.alarm_rig import Rig, at, wait_for
from tests.edge.events_support import running
from tests.servers import Server

ULT = "ult-F12.temp"
STREAM = "tracseq:events"


async def stream(client: aredis.Redis) -> list[events.CloudEvent]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(STREAM)  # type: ignore[assignment]
    return [events.parse_stream_fields(fields) for _, fields in entries]


def high_raises(found: list[events.CloudEvent]) -> list[events.CloudEvent]:
    return [
        e
        for e in found
        if e.type == events.ALARM_RAISED and e.subject == ULT and e.data["rule"] == "high"
    ]


async def test_delayed_alarm_reaches_the_stream_when_the_delay_expires(
    tmp_path: Path, redis_server: Server
) -> None:
    rig = Rig(tmp_path)
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    rig.config = rig.config.model_copy(update={"redis": Redis(url=url, stream=STREAM)})
    await rig.open()
    assert rig.log is not None
    the_log = rig.log
    client = aredis.Redis(port=redis_server.port)

    async def published() -> list[events.CloudEvent]:
        await wait_for(lambda: the_log.cursor("redis") >= the_log.last_seq)
        return await stream(client)

    try:
        async with running(RedisPublisher(rig.config, the_log, rig.clock)):
            await rig.reading(ULT, -80.0)
            await rig.advance(30)
            for i in range(7):  # door open from t=30; readings every 45 s up to t=300
                await rig.reading(ULT, -65.0)
                await rig.advance(45 if i < 6 else 25)
            # t=325: still pending
            assert high_raises(await published()) == []
            await rig.advance(5)  # t=330: the delay expires, no reading needed
            on_stream = await published()
            high = high_raises(on_stream)
            assert len(high) == 1
            event = high[0]
            assert event.time == rig.start + 330
            assert event.data["since"] == at(rig, 30)
            assert event.data["threshold"] == -70.0
            assert event.id == f"lab3-edge-01:{event.data['seq']}"
            seqs = [e.data["seq"] for e in on_stream]
            assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + len(seqs)))

            await rig.reading(ULT, -78.0)  # t=330
            cleared = [
                e
                for e in await published()
                if e.type == events.ALARM_CLEARED and e.data["rule"] == "high"
            ]
            assert len(cleared) == 1
            assert cleared[0].data["alarm_id"] == event.data["alarm_id"]
            assert cleared[0].data["duration_s"] == 300.0
    finally:
        await client.aclose()
        await rig.stop()
