"""Analytics events reach central through POST /api/v1/ingest with the instance's own token."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis

from analytics.consumer import Processor
from analytics.forward import Forwarder
from analytics.settings import Settings
from tests.analytics.conftest import drain, outputs
from tests.analytics.scenario import FREEZER_ALARMS, Gateway, compressor_failure, freezer, publish
from tests.analytics.test_recovery import wait_for
from tests.central.conftest import CLI, Central, start_central


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[Central, str]]:
    """A real central service and an analytics token for instance `a`."""
    db = f"sqlite:///{tmp_path / 'central.db'}"
    with start_central(db, "sqlite", tmp_path) as service:
        made = subprocess.run(
            [*CLI, "token", "create", "a", "--analytics", "--db", db],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield service, made.stdout.split()[-1]


async def test_own_events_are_forwarded_to_central_once(
    central: tuple[Central, str],
    settings: Settings,
    redis_client: Redis,
    make_processor: Callable[..., Processor],
) -> None:
    gw = Gateway()
    gw.describe("ult-F0.temp", FREEZER_ALARMS)
    freezer(gw, "ult-F0.temp", compressor_failure(1800.0), 3000.0)
    publish(redis_client, "tracseq:events", gw.events)
    processor = make_processor()
    await drain(processor)
    emitted = len(outputs(redis_client))
    assert emitted >= 4
    redis_client.xadd("tracseq:analytics", {"specversion": "1.0", "id": "other",
                      "source": "tracseq-analytics/b", "type": "org.tracseq.analytics.status",
                      "data": "{\"sensor\": \"x\"}"})  # fmt: skip
    service, token = central
    forwarder = Forwarder(replace(settings, block_ms=1), service.url, token,
                          metrics=processor.metrics)  # fmt: skip
    async with asyncio.TaskGroup() as group:
        task = group.create_task(forwarder.run())
        await wait_for(lambda: service.count("events", "source = ?", ("tracseq-analytics/a",))
                       == emitted)  # fmt: skip
        group_name = "tracseq-analytics:ingest:a"
        await wait_for(
            lambda: redis_client.xpending("tracseq:analytics", group_name)["pending"] == 0
        )
        task.cancel()
    assert forwarder.state == "up"
    assert service.count("events", "source = ?", ("tracseq-analytics/b",)) == 0
