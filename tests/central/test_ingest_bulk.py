"""Ingest's bulk paths, straight on the storage layer (both backends, no HTTP).

The digital twin of all a batch's sensors is upserted in one statement per 1,000 sensors;
each sensor still ends with its newest reading, whatever the order in and across batches.
Validation of a large batch still names the index and field of each bad event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from central.ingest import build_batch
from central.storage import SqlStorage, open_storage
from runtime import events as ev
from tests.central.conftest import BACKENDS, fresh_db

GATEWAY = "bulk-gw"
SOURCE = ev.EDGE_SOURCE_PREFIX + GATEWAY
BASE = 1_800_000_000.0


@pytest.fixture(params=BACKENDS)
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> AsyncIterator[SqlStorage]:
    with fresh_db(request.param, tmp_path, postgres_url) as url:
        store = open_storage(url, time.time)
        try:
            await store.migrate()
            yield store
        finally:
            await store.close()


def reading(seq: int, sensor: str, value: float, at: float, **data: Any) -> dict[str, Any]:
    return ev.edge_event(
        GATEWAY, seq, ev.READING, time=at, subject=sensor, data={"value": value, **data}
    ).to_dict()


async def twins(storage: SqlStorage) -> dict[str, tuple[Any, ...]]:
    rows = await storage._read(
        lambda conn, d: d.all(conn, "SELECT id, last_value, last_seq, unit FROM sensors")
    )
    return {row[0]: tuple(row[1:]) for row in rows}


async def store(storage: SqlStorage, items: list[dict[str, Any]]) -> tuple[int, int]:
    batch, errors = build_batch(items, SOURCE, time.time())
    assert errors == []
    result = await storage.ingest(batch)
    return result.accepted, result.duplicates


async def test_every_sensor_of_a_large_batch_gets_its_newest_reading(
    storage: SqlStorage,
) -> None:
    sensors = [f"s{i:04d}" for i in range(1201)]  # two twin statements: 1,000 + 201
    items = [reading(i + 1, s, float(i), BASE + i, unit="degC") for i, s in enumerate(sensors)]
    # s0000 again, newer, then older, inside the same batch: the newer one wins.
    items.append(reading(5000, "s0000", -1.0, BASE + 9000))
    items.append(reading(5001, "s0000", -2.0, BASE + 10))
    assert await store(storage, items) == (1203, 0)
    found = await twins(storage)
    assert len(found) == 1201
    assert found["s0000"] == (-1.0, 5000, None)
    assert found["s1200"] == (1200.0, 1201, "degC")
    # An older reading arriving late changes no twin; a newer one without a unit keeps
    # the stored unit; a resent batch is all duplicates.
    older, newer = reading(6000, "s0005", 99.0, BASE - 1), reading(6001, "s0006", 7.5, BASE + 1e4)
    assert await store(storage, [older, newer]) == (2, 0)
    assert await store(storage, items[:10]) == (0, 10)
    found = await twins(storage)
    assert found["s0005"] == (5.0, 6, "degC")
    assert found["s0006"] == (7.5, 6001, "degC")


async def test_a_bad_event_in_a_large_batch_is_named_by_index_and_field() -> None:
    items = [reading(i + 1, f"s{i % 8}", float(i), BASE + i) for i in range(250)]
    items[137]["data"]["value"] = "warm"
    items[200]["time"] = "2026-02-30T10:00:00.000Z"
    items[201]["data"]["received"] = "9999-12-31T23:59:59.999Z"
    batch, errors = build_batch(items, SOURCE, time.time())
    assert [(e["index"], e["field"]) for e in errors] == [
        (137, "data.value"),
        (200, "time"),
        (201, "data.received"),
    ]
    assert len(batch.readings) == 247
