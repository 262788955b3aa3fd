from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis import Redis

from analytics.consumer import Processor
from analytics.settings import Settings
from runtime.events import CloudEvent, parse_stream_fields
from tests.servers import Server


@pytest.fixture
def redis_client(redis_server: Server) -> Iterator[Redis]:
    client = Redis(port=redis_server.port)
    yield client
    client.close()


@pytest.fixture
def settings(redis_server: Server) -> Settings:
    return Settings(redis_url=f"redis://127.0.0.1:{redis_server.port}/0", instance="a", block_ms=1)


@pytest.fixture
async def make_processor(
    settings: Settings,
) -> AsyncIterator[Callable[..., Processor]]:
    made: list[Processor] = []

    def make(**changes: Any) -> Processor:
        processor = Processor(replace(settings, **changes))
        made.append(processor)
        return processor

    yield make
    for processor in made:
        await processor.redis.aclose()


async def drain(processor: Processor, rounds: int = 10_000) -> None:
    """Step until the processor finds nothing more to do."""
    idle = 0
    for _ in range(rounds):
        idle = idle + 1 if await processor.step() == 0 else 0
        if idle >= 2 and processor.status.pending_replayed:
            return
    raise AssertionError("processor did not drain")


def outputs(redis: Redis, stream: str = "tracseq:analytics") -> list[CloudEvent]:
    return [parse_stream_fields(fields) for _id, fields in redis.xrange(stream)]
