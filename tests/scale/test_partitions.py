"""Readings partitioned by day on PostgreSQL: made ahead, backlog moved, retention drops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import psycopg

from central.storage import open_storage, partitions
from central.storage.migrations import LATEST, MIGRATIONS, SCHEMA_TABLE
from central.storage.partitions import AHEAD, WIDTH, maintain_url
from central.storage.records import Batch, ReadingRow
from tests.central.conftest import fresh_db, gateway_name, reading
from tests.scale.conftest import Pair
from tests.servers import wait_until

DAY = 86_400.0


def test_instances_make_partitions_ahead(pair: Pair) -> None:
    def covered() -> bool:
        ranges = [(p.start, p.end) for p in _partitions(pair.db) if p.start is not None]
        today = time.time() // WIDTH * WIDTH
        return all(
            any(lo is not None and hi is not None and lo <= t < hi for lo, hi in ranges)
            for t in (today, time.time(), time.time() + AHEAD - 1)
        )

    wait_until(covered, timeout=20)
    default = [p for p in _partitions(pair.db) if p.start is None]
    assert [p.name for p in default] == ["readings_default"]


def test_a_reading_beyond_the_partitions_moves_into_its_own_when_it_is_made(pair: Pair) -> None:
    gw = gateway_name()
    token = pair.a.token(gw)
    later = time.time() + AHEAD + 3 * DAY  # a clock far ahead: no partition yet
    assert pair.a.ingest(token, [reading(gw, 1, f"{gw}.t", 1.0, at=later)]).status_code == 200
    assert _home(pair.db, f"{gw}:1") == "readings_default"
    report = asyncio.run(maintain_url(pair.db, later - DAY, None))
    assert report.moved == 1
    assert _home(pair.db, f"{gw}:1") == partitions.partition_name(
        later // DAY * DAY, later // DAY * DAY + DAY
    )
    again = pair.b.ingest(token, [reading(gw, 1, f"{gw}.t", 1.0, at=later)])
    assert again.json() == {"accepted": 0, "duplicates": 1}  # still recognised once moved


def test_retention_drops_whole_old_partitions_and_old_default_rows(pair: Pair) -> None:
    gw = gateway_name()
    token = pair.a.token(gw)
    now = time.time()
    sent = [
        reading(gw, 1, f"{gw}.t", 1.0, at=now - 100 * DAY),  # before any partition: default
        reading(gw, 2, f"{gw}.t", 2.0, at=now),
        reading(gw, 3, f"{gw}.t", 3.0, at=now + 4 * DAY),
    ]
    assert pair.b.ingest(token, sent).json() == {"accepted": 3, "duplicates": 0}
    today = _home(pair.db, f"{gw}:2")
    # Twelve days on, with a retention of ten: today's partition and older rows go.
    report = asyncio.run(maintain_url(pair.db, now + 12 * DAY, 10 * DAY))
    assert today in report.dropped and report.deleted >= 1
    assert _home(pair.db, f"{gw}:3") not in report.dropped
    window = {"from": str(now - 200 * DAY), "to": str(now + 30 * DAY)}
    for central in pair.both:
        answer = central.get(f"/api/v1/sensors/{gw}.t/readings", **window).json()
        assert [r["value"] for r in answer["readings"]] == [3.0]
        # the hourly summaries of the deleted readings no longer count (rollups.py)
        report = central.get(f"/api/v1/reports/sensors/{gw}.t", **window).json()
        assert (report["count"], report["min"], report["max"]) == (1, 3.0, 3.0)
    names = {p.name for p in _partitions(pair.db)}
    assert today not in names and "readings_default" in names


def test_an_upgraded_database_keeps_its_readings(tmp_path: Path, postgres_url: str) -> None:
    with fresh_db("postgres", tmp_path, postgres_url) as db:
        with psycopg.connect(db, autocommit=True) as conn:  # a database of version 2
            conn.execute(SCHEMA_TABLE.format(float="DOUBLE PRECISION"))
            for migration in MIGRATIONS[:2]:
                conn.execute(migration.postgres.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, 0)",
                    (migration.version, migration.name),
                )
            conn.execute(
                "INSERT INTO readings VALUES ('g:1', 'g', 1, 'g.t', 1000, -80, 'degC', "
                "'temperature', 1000, 1000)"
            )
        assert asyncio.run(_upgrade(db)) == (LATEST, [(1000.0, -80.0)], 0)
        assert _home(db, "g:1") == "readings_unpartitioned"  # the old table, now the default
        report = asyncio.run(maintain_url(db, time.time(), None))
        assert report.created and report.moved == 0


async def _upgrade(db: str) -> tuple[int, list[tuple[float, float]], int]:
    storage = open_storage(db, time.time)
    try:
        version = await storage.migrate()
        rows = await storage.readings("g.t", 0, 2000, 10)
        again = ReadingRow("g:1", "g", 1, "g.t", 1000.0, -80.0, None, None, None)
        result = await storage.ingest(Batch("tracseq-edge/g", "g", time.time(), [again], [], []))
        return version, rows, result.accepted
    finally:
        await storage.close()


def _partitions(db: str) -> list[partitions.Partition]:
    async def read() -> list[partitions.Partition]:
        async with await psycopg.AsyncConnection.connect(db) as conn:
            return await partitions.partitions(conn)

    return asyncio.run(read())


def _home(db: str, reading_id: str) -> str:
    with contextlib.closing(psycopg.connect(db)) as conn:
        row = conn.execute(
            "SELECT tableoid::regclass::text FROM readings WHERE id = %s", (reading_id,)
        ).fetchone()
    assert row is not None, reading_id
    return str(row[0])


def test_retention_needs_postgresql_and_at_least_a_day(tmp_path: Path) -> None:
    from tests.central.conftest import run_cli

    sqlite = f"sqlite:///{tmp_path / 'c.db'}"
    code, _, err = run_cli("--db", sqlite, "--retention", "400d")
    assert code == 2 and "--retention: needs --db postgresql://" in err
    code, _, err = run_cli("--db", "postgresql://x/y", "--retention", "2h")
    assert code == 2 and "at least 1d" in err
    code, _, err = run_cli("--db", "postgresql://x/y", "--retention", "soon")
    assert code == 2 and "--retention:" in err
