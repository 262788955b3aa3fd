"""The uploader against the real central service (subprocess) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.conftest import GATEWAY, fast_uploader, opened_log, readings, run, running, until
from tests.sync.conftest import sync_config as make_config
from tests.sync.fake_central import write_token
from tests.sync.real_central import Central, central, create_token, fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def service(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Central]:
    with (
        fresh_database(request.param, tmp_path, postgres_url, "sync_e2e") as db,
        central(db, tmp_path, GATEWAY) as started,
    ):
        yield started


def test_outage_every_reading_stored_exactly_once_and_lag_back_to_zero(
    tmp_path: Path, service: Central
) -> None:
    """Central stopped while 30,000 readings flow; after restart each is stored exactly once.

    The issue's 5-minute outage is compressed to the time it takes to build a backlog
    (10,000 readings before, 15,000 during, 5,000 after the outage, and at least one
    second of lag): what matters is that a backlog builds up while central is down, not
    how long it is down. Afterwards the lag is back to ~0 at the edge and at central.
    """
    config = make_config(
        tmp_path, service.url, write_token(tmp_path / "token", service.token), batch_max=5000
    )

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await log.append(readings(10_000))
                await until(lambda: log.cursor("sync") == 10_000)
                service.server.stop()
                for chunk in range(15):
                    await log.append(readings(1000, start=10_000 + chunk * 1000))
                await until(lambda: uploader.health().state == "disconnected")
                await until(lambda: uploader.lag() > 1.0)
                assert log.cursor("sync") == 10_000
                service.server.start()
                for chunk in range(5):
                    await log.append(readings(1000, start=25_000 + chunk * 1000))
                await until(lambda: log.cursor("sync") == 30_000, timeout=60)
                assert uploader.lag() == 0.0 and log.pending("sync") == 0
                await log.append(readings(1, start=40_000))  # a fresh reading after recovery
                await until(lambda: log.cursor("sync") == 30_001)

    run(scenario)
    count, distinct, first, last = service.query(
        f"SELECT count(*), count(DISTINCT id), min(seq), max(seq) FROM readings "
        f"WHERE gateway = '{GATEWAY}'"
    )[0]
    assert (count, distinct, first, last) == (30_001, 30_001, 1, 30_001)
    last_seq, lag = service.query(f"SELECT last_seq, lag_s FROM gateways WHERE id = '{GATEWAY}'")[0]
    assert last_seq == 30_001
    assert lag < 1.0  # it was over 1 s during the outage


def test_poisoned_batch_4999_stored_1_quarantined_cursor_moves_on(
    tmp_path: Path, service: Central
) -> None:
    config = make_config(
        tmp_path, service.url, write_token(tmp_path / "token", service.token), batch_max=5000
    )
    batch = readings(5000)
    batch[2345].data["value"] = "hot"  # central: 400, index 2345, field data.value

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(batch)
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: log.cursor("sync") == 5000, timeout=60)
                assert uploader.health().counters["quarantined"] == 1

    run(scenario)
    assert service.query("SELECT count(*) FROM readings")[0][0] == 4999
    assert service.query(f"SELECT count(*) FROM readings WHERE id = '{GATEWAY}:2346'")[0][0] == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "log.db") as conn:
        rows = conn.execute("SELECT seq, reason FROM quarantine").fetchall()
    assert [seq for seq, _ in rows] == [2346]
    assert "data.value" in rows[0][1]


def test_a_token_of_another_gateway_is_refused_and_nothing_is_dropped(
    tmp_path: Path, service: Central
) -> None:
    token_file = write_token(tmp_path / "token", create_token(service.db, "someone-else"))
    config = make_config(tmp_path, service.url, token_file)

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(100))
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: uploader.health().state == "degraded")
                assert "403" in uploader.health().detail
                assert log.cursor("sync") == 0
                write_token(token_file, service.token)  # the operator fixes it
                await until(lambda: log.cursor("sync") == 100)

    run(scenario)
    assert service.query("SELECT count(*) FROM readings")[0][0] == 100
