"""The SQLite backend (the default): WAL, synchronous=FULL, zero set-up.

One writer thread owns the only writing connection (SQLite allows one writer at a time;
a queue in front of it is cheaper than lock contention); two reader threads serve queries
concurrently thanks to WAL. A 200 from ingest means the batch is committed to disk.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from central.storage.dialect import Dialect
from central.storage.migrations import MIGRATIONS, SCHEMA_TABLE
from central.storage.records import EventRow, ReadingRow
from central.storage.runner import Pool, Worker
from central.storage.sql import SqlStorage, StorageError

_READING_SQL = """INSERT INTO readings (id, gateway, seq, sensor, time, value, unit, quantity,
    received, ingested) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"""
_EVENT_SQL = """INSERT INTO events (id, source, gateway, seq, type, subject, time, ingested, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"""


class SqliteDialect(Dialect):
    name = "sqlite"

    def q(self, sql: str) -> str:
        return sql

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        if conn.in_transaction:  # nested: the outer transaction commits
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def insert_readings(
        self, conn: sqlite3.Connection, rows: Sequence[ReadingRow], now: float
    ) -> set[str]:
        new: set[str] = set()
        cur = conn.cursor()
        for r in rows:
            cur.execute(
                _READING_SQL,
                (r.id, r.gateway, r.seq, r.sensor, r.time, r.value, r.unit, r.quantity,
                 r.received, now),
            )  # fmt: skip
            if cur.rowcount:
                new.add(r.id)
        return new

    def insert_events(
        self, conn: sqlite3.Connection, rows: Sequence[EventRow], now: float
    ) -> set[str]:
        new: set[str] = set()
        cur = conn.cursor()
        for e in rows:
            cur.execute(
                _EVENT_SQL,
                (e.id, e.source, e.gateway, e.seq, e.type, e.subject, e.time, now, e.data_json),
            )
            if cur.rowcount:
                new.add(e.id)
        return new

    def bucket(self, step: float) -> str:
        return f"(CAST(time / {step!r} AS INTEGER) * {step!r})"

    def migrate(self, conn: sqlite3.Connection, now: float) -> int:
        conn.execute(SCHEMA_TABLE.format(float="REAL"))
        with self.transaction(conn):
            current = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                          .fetchone()[0])  # fmt: skip
            if current > len(MIGRATIONS):
                raise StorageError(
                    f"the database schema is version {current}, newer than this build knows "
                    f"({len(MIGRATIONS)}): upgrade tracseq-edge"
                )
            for migration in MIGRATIONS[current:]:
                for statement in _statements(migration.sqlite):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now),
                )
        return len(MIGRATIONS)


def _statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (trigger bodies contain semicolons)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise StorageError(f"incomplete SQL statement in migration: {buffer.strip()[:80]}")


def path_of(url: str) -> Path:
    """`sqlite:///relative.db` or `sqlite:////absolute/path.db` (SQLAlchemy's convention)."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise StorageError(f"invalid SQLite URL {url!r} (use sqlite:///central.db)")
    return Path(url[len("sqlite:///") :].split("?", 1)[0])


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


def open_sqlite(url: str, clock: Callable[[], float], readers: int = 2) -> SqlStorage:
    path = path_of(url)

    def worker(name: str, readonly: bool) -> Worker[Any]:
        return Worker(name, lambda: connect(path, readonly=readonly), _close, _never_broken)

    writer = Pool([worker("central-sqlite-writer", False)])
    reader = Pool([worker(f"central-sqlite-reader-{i}", True) for i in range(readers)])
    return SqlStorage(SqliteDialect(), writer, reader, clock, describe=f"sqlite:{path}")


def _close(conn: sqlite3.Connection) -> None:
    conn.close()


def _never_broken(conn: sqlite3.Connection) -> bool:
    return False
