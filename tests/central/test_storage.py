"""The storage layer itself: migrations and the append-only acknowledgement table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.storage import SqlStorage, StorageError, open_storage
from central.storage.migrations import LATEST, MIGRATIONS
from tests.central.conftest import BACKENDS, fresh_db


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    with fresh_db(request.param, tmp_path, postgres_url) as url:
        yield url


async def test_migrating_twice_applies_each_version_once(db: str) -> None:
    first = open_storage(db, time.time)
    assert await first.migrate() == LATEST
    await first.close()
    second = open_storage(db, time.time)
    assert await second.migrate() == LATEST
    versions = await second._read(
        lambda conn, d: d.all(conn, "SELECT version FROM schema_migrations")
    )
    await second.close()
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]


async def test_acknowledgements_cannot_be_edited_or_deleted(db: str) -> None:
    storage: SqlStorage = open_storage(db, time.time)
    try:
        await storage.migrate()
        await storage._write(
            lambda conn, d: d.execute(
                conn, "INSERT INTO alarms (alarm_id, origin, rule) VALUES ('a', 'edge', 'high')"
            )
        )
        assert await storage.ack("a", "ann", "checked", "apikey:x") is not None
        for sql in ("UPDATE alarm_acks SET comment = 'nothing'", "DELETE FROM alarm_acks"):
            with pytest.raises(Exception, match="append-only"):
                await storage._write(lambda conn, d, sql=sql: d.execute(conn, sql))
        rows = await storage.alarms(False, 10)
        assert rows[0]["acks"][0]["comment"] == "checked"
    finally:
        await storage.close()


async def test_a_newer_schema_than_this_build_is_refused(db: str) -> None:
    storage = open_storage(db, time.time)
    try:
        await storage.migrate()
        await storage._write(
            lambda conn, d: d.execute(
                conn, "INSERT INTO schema_migrations VALUES (999, 'future', 0)"
            )
        )
        fresh = open_storage(db, time.time)
        with pytest.raises(StorageError, match="newer than this build"):
            await fresh.migrate()
        await fresh.close()
    finally:
        await storage.close()
