"""The audit trail cannot be shortened or re-chained without notice (issue 13, item 6).

Each tampering the review did verified as `ok: true` with the hash chain alone: deleting
the newest rows, editing the newest row and recomputing its hash, re-chaining, deleting
every row, TRUNCATE (PostgreSQL). With signed checkpoints (`--audit-key`) each is reported
by `verify_trail`, raises the `audit_tampered` alarm, and shows in `GET /api/v1/audit`.
The tamperer works straight on the database, around the triggers, as the app's own role.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from central.audit import row_hash, verify
from central.storage import SqlStorage, open_storage
from central.stream import Hub
from central.trail import Trail, VerifyResult, verify_trail
from tests.central.conftest import BACKENDS, fresh_db, run_cli, start_central
from tests.servers import wait_until

KEY = b"an audit key of 32 bytes, test!!"
T = TypeVar("T")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    with fresh_db(request.param, tmp_path, postgres_url) as url:
        yield url


def sql(url: str, *statements: str) -> None:
    """Straight on the database, with the append-only triggers out of the way."""
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.executescript(
                "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;"
                "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;" + ";".join(statements)
            )
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement.encode())
        conn.execute("ALTER TABLE audit ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")


def rows(url: str) -> list[tuple[Any, ...]]:
    query = "SELECT id, at, actor, action, target, old_value, new_value, prev_hash, hash "
    query += "FROM audit ORDER BY id"
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return list(conn.execute(query))
    with psycopg.connect(url) as conn:
        return list(conn.execute(query.encode()))


def rechain(url: str, edit_id: int, target: str) -> None:
    """Edit row `edit_id`'s target and recompute its hash and every later one."""
    statements = []
    prev = None
    for id_, at, actor, action, tgt, old, new, prev_hash, _ in rows(url):
        if id_ < edit_id:
            continue
        prev = prev_hash if prev is None else prev
        tgt = target if id_ == edit_id else tgt
        digest = row_hash(prev, id_, at, actor, action, tgt, old, new)
        statements.append(
            f"UPDATE audit SET target = '{tgt}', prev_hash = '{prev}', hash = '{digest}' "
            f"WHERE id = {id_}"
        )
        prev = digest
    sql(url, *statements)


def run(url: str, body: Callable[[SqlStorage, Trail], Awaitable[T]]) -> T:
    async def main() -> T:
        storage = open_storage(url, time.time)
        try:
            return await body(storage, Trail(storage, KEY, Hub(10), time.time))
        finally:
            await storage.close()

    return asyncio.run(main())


def checkpointed(url: str, count: int = 6) -> None:
    """`count` audit rows and a signed checkpoint over them."""

    async def body(storage: SqlStorage, trail: Trail) -> None:
        for i in range(count):
            await storage.audit("cli:test", "test.action", f"t{i}", None, {"i": i})
        assert (await trail.checkpoint()).ok
        assert trail.written is not None and trail.written.rows == count

    run(url, body)


def verified(url: str, *, full: bool = False) -> VerifyResult:
    """What a fresh process (e.g. `central verify`) finds."""
    return run(url, lambda storage, _: verify_trail(storage, KEY, full=full))


def chain_alone_ok(url: str) -> bool:
    return run(url, lambda storage, _: _chain(storage))


async def _chain(storage: SqlStorage) -> bool:
    return verify(await storage.audit_rows()).ok


def test_an_untouched_trail_verifies_incrementally_from_its_checkpoint(db: str) -> None:
    checkpointed(db)
    run(db, lambda storage, _: storage.audit("cli:test", "test.action", "after", None, None))
    result = verified(db)
    assert result.ok and result.verdict.rows == 7
    assert result.checkpoint is not None and result.checkpoint.rows == 6
    assert result.first == 7  # rows 1..6 are vouched for by the signed head
    assert verified(db, full=True).ok


def test_deleting_the_newest_rows_is_reported(db: str) -> None:
    checkpointed(db)
    sql(db, "DELETE FROM audit WHERE id > 4")
    assert chain_alone_ok(db)  # what the review saw
    result = verified(db)
    assert not result.ok
    assert "shrank: 6 rows at checkpoint #1" in result.problems[5]


def test_editing_the_newest_row_and_its_hash_is_reported(db: str) -> None:
    checkpointed(db)
    rechain(db, 6, "edited")
    assert chain_alone_ok(db)
    result = verified(db)
    assert not result.ok and "no longer has the hash" in result.problems[6]


def test_rechaining_the_trail_is_reported(db: str) -> None:
    checkpointed(db)
    rechain(db, 2, "edited")
    assert chain_alone_ok(db)
    assert "re-chained" in verified(db).problems[6]
    assert not verified(db, full=True).ok


def test_deleting_every_row_is_reported(db: str) -> None:
    checkpointed(db)
    sql(db, "DELETE FROM audit")
    assert chain_alone_ok(db)
    assert "shrank: 6 rows at checkpoint #1 " in verified(db).problems[1]


def test_truncate_is_refused_on_postgresql_and_reported_around_the_trigger(db: str) -> None:
    checkpointed(db)
    if db.startswith("postgres"):
        with psycopg.connect(db, autocommit=True) as conn:  # the app's own role
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute("TRUNCATE audit")
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute("TRUNCATE audit_checkpoints")
        assert verified(db).ok
        sql(db, "TRUNCATE audit")  # with the triggers disabled by the table's owner
    else:
        sql(db, "DELETE FROM audit")
    assert not verified(db).ok


def test_a_forged_checkpoint_is_reported(db: str) -> None:
    checkpointed(db)
    sql(
        db,
        "DELETE FROM audit WHERE id > 3",
        "INSERT INTO audit_checkpoints (id, at, row_count, head, signature) "
        f"VALUES (2, {time.time()}, 3, '{rows(db)[2][8]}', 'hmac-sha256:{'0' * 64}')",
    )
    result = verified(db)
    assert "checkpoint #2: its signature does not verify" in result.problems[3]
    assert "shrank: 6 rows at checkpoint #1" in result.problems[4]


def test_tampering_raises_one_audit_tampered_alarm_and_stops_checkpoints(db: str) -> None:
    checkpointed(db)
    sql(db, "DELETE FROM audit WHERE id > 4")

    async def body(storage: SqlStorage, trail: Trail) -> None:
        for _ in range(2):
            assert not (await trail.checkpoint()).ok
        assert len(await storage.audit_checkpoints(10)) == 1  # none signed over a bad trail
        await assert_one_alarm(storage)

    run(db, body)


def test_deleting_checkpoints_under_a_running_central_is_reported(db: str) -> None:
    async def body(storage: SqlStorage, trail: Trail) -> None:
        await storage.audit("cli:test", "test.action", "x", None, None)
        assert (await trail.checkpoint()).ok
        await asyncio.to_thread(sql, db, "DELETE FROM audit_checkpoints")
        result = await trail.checkpoint()
        assert not result.ok
        assert "that this central signed is gone" in result.problems[1]
        await assert_one_alarm(storage)

    run(db, body)


async def assert_one_alarm(storage: SqlStorage) -> None:
    active = await storage.alarms(active_only=True, limit=100)
    tampered = [a for a in active if a["rule"] == "audit_tampered"]
    assert len(tampered) == 1 and tampered[0]["alarm_id"].startswith("central:audit_tampered:")


def test_central_signs_checkpoints_and_raises_the_alarm(tmp_path: Path, postgres_url: str) -> None:
    key = tmp_path / "audit.key"
    key.write_bytes(KEY)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    code, _, err = run_cli("--audit-key", str(tmp_path / "missing.key"), "--db", db)
    assert code == 2 and "--audit-key" in err
    flags = ("--audit-key", str(key), "--audit-checkpoint-every", "200ms")
    with start_central(db, "sqlite", tmp_path, *flags) as central:
        for role in ("viewer", "operator", "admin"):
            central.key(role)  # audited: apikey.create
        log = central.server.log
        wait_until(lambda: "audit checkpoint #" in log.read_text() and "rows=3" in log.read_text())
        sql(db, "DELETE FROM audit WHERE id > 1")

        def alarmed() -> bool:
            alarms = central.get("/api/v1/alarms", role="admin").json()["alarms"]
            return any(a["rule"] == "audit_tampered" for a in alarms)

        wait_until(alarmed, timeout=20)
        chain = central.get("/api/v1/audit", role="admin").json()["chain"]
        assert not chain["ok"] and chain["checkpoint"]["rows"] >= 3
        assert any("shrank" in p["problem"] for p in chain["problems"])
        assert "audit trail verification failed" in log.read_text()
        with httpx.Client() as client:
            csv = client.get(
                f"{central.url}/api/v1/audit",
                params={"format": "csv"},
                headers={"authorization": f"Bearer {central.key('admin')}"},
            )
        assert csv.status_code == 200
