"""On PostgreSQL the ingest transaction's statements have one text whatever the batch's size.

psycopg keeps every statement text a connection runs (its prepared-statement bookkeeping:
up to 100 texts, with a type per parameter), so a multi-row VALUES or an `IN (?, ?, ...)`
of each size was another entry: up to ~0.7 MB each for 1,000 sensors, and the one-hour
soak saw central's memory fill that over the hour. Rows and id lists now go in as arrays
(`Dialect.rows`, `Dialect.one_of`), and the stored rows are the same as before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from central.ingest import build_batch
from central.storage import open_storage
from central.storage.postgres import PostgresDialect
from runtime import events as ev
from tests.central.conftest import BACKENDS, fresh_db

GATEWAY = "gw-shapes"
SOURCE = ev.EDGE_SOURCE_PREFIX + GATEWAY
HOUR = 3600.0


def _readings(first_seq: int, sensors: int, start: float) -> list[dict[str, Any]]:
    """Two readings a sensor, an hour apart (two summary rows each)."""
    items = []
    seq = first_seq
    for n in range(sensors):
        for at in (start, start + HOUR):
            data = {"value": -80.0 + n / 8, "unit": "degC", "quantity": "temperature"}
            event = ev.edge_event(
                GATEWAY, seq, ev.READING, time=at, subject=f"{GATEWAY}.s{n}", data=data
            )
            items.append(event.to_dict())
            seq += 1
    return items


async def test_postgres_statement_texts_do_not_grow_with_the_batch_size(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: set[str] = set()
    execute = PostgresDialect.execute

    def counted(self: PostgresDialect, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        texts.add(sql)
        return execute(self, conn, sql, params)

    monkeypatch.setattr(PostgresDialect, "execute", counted)
    with fresh_db("postgres", tmp_path, postgres_url) as url:
        storage = open_storage(url, time.time)
        try:
            await storage.migrate()
            start, seq, sizes = 1_796_000_000.0, 1, []
            for sensors in range(1, 41):
                items = _readings(seq, sensors, start)
                batch, errors = build_batch(items, SOURCE, time.time())
                assert not errors
                result = await storage.ingest(batch)
                assert result.accepted == len(items)
                seq, start = seq + len(items), start + 2 * HOUR
                sizes.append(len(texts))
        finally:
            await storage.close()
    assert sizes[-1] == sizes[1], sizes  # the second batch ran every statement there is


@pytest.mark.parametrize("backend", BACKENDS)
async def test_summaries_and_twin_are_stored_exactly_through_the_row_arrays(
    backend: str, tmp_path: Path, postgres_url: str
) -> None:
    start = 1_796_000_000.0
    items = _readings(1, 3, start)
    huge = ev.edge_event(
        GATEWAY, 7, ev.READING, time=start - 60, subject=f"{GATEWAY}.s0", data={"value": 1e307}
    )
    items.append(huge.to_dict())  # value x interval to the next reading: infinity
    with fresh_db(backend, tmp_path, postgres_url) as url:
        storage = open_storage(url, time.time)
        try:
            await storage.migrate()
            batch, errors = build_batch(items, SOURCE, time.time())
            assert not errors
            assert (await storage.ingest(batch)).accepted == len(items)
            rows = await storage._read(
                lambda conn, d: d.all(
                    conn,
                    "SELECT sensor, bucket, n, first_v, max_v, sum_vg, exact FROM reading_rollups"
                    " ORDER BY sensor, bucket",
                )
            )
            twin = await storage._read(
                lambda conn, d: d.all(
                    conn, "SELECT id, gateway, unit, last_value, last_time, last_seq FROM sensors"
                    " ORDER BY id",
                )
            )  # fmt: skip
        finally:
            await storage.close()
    hour = math.floor(start / HOUR) * HOUR
    got = [tuple(r) for r in rows]
    assert [r[:3] for r in got] == [
        (f"{GATEWAY}.s{n}", bucket, 2 if n == 0 and bucket == hour else 1)
        for n in range(3)
        for bucket in (hour, hour + HOUR)
    ]
    assert got[0][3:5] == (1e307, 1e307) and math.isinf(got[0][5]) and got[0][6] == 1
    assert [tuple(r) for r in twin] == [
        (f"{GATEWAY}.s0", GATEWAY, "degC", -80.0, start + HOUR, 2),
        (f"{GATEWAY}.s1", GATEWAY, "degC", -80.0 + 1 / 8, start + HOUR, 4),
        (f"{GATEWAY}.s2", GATEWAY, "degC", -80.0 + 2 / 8, start + HOUR, 6),
    ]
