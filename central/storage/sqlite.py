"""The SQLite backend (the default): WAL, synchronous=FULL, zero set-up.

One writer thread owns the only writing connection (SQLite allows one writer at a time;
a queue in front of it is cheaper than lock contention); two reader threads serve queries
concurrently thanks to WAL. Ingest batches that wait for the writer are committed
together (`SqlStorage` group commit: one disk sync for all, a savepoint per batch). A 200
from ingest means the batch is committed to disk.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from central.storage.dialect import Dialect
from central.storage.errors import StorageError, StorageUnavailable
from central.storage.migrations import LATEST, MIGRATIONS, SCHEMA_TABLE, pending
from central.storage.records import EventRow, ReadingRow
from central.storage.runner import Pool, Worker
from central.storage.sql import SqlStorage
from runtime.private_files import create_private

_READING_COLUMNS = "id, gateway, seq, sensor, time, value, unit, quantity, received, ingested"
_EVENT_COLUMNS = "id, source, gateway, seq, type, subject, time, data, ingested"
# Primary result codes after which the same call may succeed later: another process holds
# the lock past busy_timeout, the file cannot be opened or read right now, the disk is full.
_RETRYABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
    }
)
# Rows per multi-row INSERT: 10 columns x 500 = 5,000 parameters (SQLite allows 32,766).
_CHUNK = 500


def _insert_new(
    conn: sqlite3.Connection, table: str, columns: str, rows: Sequence[tuple[Any, ...]], now: float
) -> set[str]:
    """Insert rows (first column: id; `now` as the last column, `ingested`), ignoring
    stored ids; returns the ids that were new.

    The common case (no duplicates) is one multi-row INSERT per chunk: one sqlite3_step,
    so the writer thread releases and re-takes the GIL once per chunk instead of once per
    row (per-row steps stall behind the event loop's JSON parsing: the GIL convoy). Its
    parameters are the rows' fields as they are plus `now` once, numbered (?NNN), so no
    tuple is built per row. When a chunk held duplicates, it is rolled back to a savepoint
    and redone row by row to learn which ids were new.
    """
    new: set[str] = set()
    width = len(rows[0]) if rows else 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        conn.execute("SAVEPOINT chunk")
        before = conn.total_changes
        conn.execute(_multi_row(table, columns, width, len(chunk)), [*itertools.chain(*chunk), now])
        if conn.total_changes - before == len(chunk):
            conn.execute("RELEASE chunk")
            new.update(row[0] for row in chunk)
            continue
        conn.execute("ROLLBACK TO chunk")
        marks = ", ".join("?" * (width + 1))
        single = f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"
        cur = conn.cursor()
        for row in chunk:
            cur.execute(single, (*row, now))
            if cur.rowcount:
                new.add(row[0])
        conn.execute("RELEASE chunk")
    return new


@functools.lru_cache(maxsize=64)
def _multi_row(table: str, columns: str, width: int, count: int) -> str:
    """INSERT of `count` rows of `width` parameters each, then one shared last column."""
    shared = f"?{width * count + 1}"
    values = ", ".join(
        "(" + ", ".join(f"?{i * width + j}" for j in range(1, width + 1)) + f", {shared})"
        for i in range(count)
    )
    return f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT (id) DO NOTHING"


@functools.lru_cache(maxsize=64)
def _values(width: int, count: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return "VALUES " + ", ".join([row] * count)


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
        return _insert_new(conn, "readings", _READING_COLUMNS, rows, now)  # columns in order

    def insert_events(
        self, conn: sqlite3.Connection, rows: Sequence[EventRow], now: float
    ) -> set[str]:
        values = [
            (e.id, e.source, e.gateway, e.seq, e.type, e.subject, e.time, e.data_json) for e in rows
        ]
        return _insert_new(conn, "events", _EVENT_COLUMNS, values, now)

    def rows(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        return _values(len(types), len(rows)), [*itertools.chain(*rows)]

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def bucket(self, step: float) -> str:
        return f"(CAST(time / {step!r} AS INTEGER) * {step!r})"

    def migrate(self, conn: sqlite3.Connection, now: float) -> int:
        conn.execute(SCHEMA_TABLE.format(float="REAL"))
        with self.transaction(conn):
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
            for migration in pending(MIGRATIONS, {int(r[0]) for r in rows}):
                for statement in _statements(migration.sqlite):
                    conn.execute(statement)
                if migration.then is not None:
                    migration.then(conn, self)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now),
                )
        return LATEST


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
        create_private(path)  # 0600: password hashes, sessions, the audit trail
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    try:
        conn.execute("SELECT EXP(0)")
    except sqlite3.OperationalError:  # a build without the math functions: same result
        conn.create_function("EXP", 1, math.exp, deterministic=True)
    return conn


def open_sqlite(url: str, clock: Callable[[], float], readers: int = 2) -> SqlStorage:
    path = path_of(url)

    def worker(name: str, readonly: bool) -> Worker[Any]:
        return Worker(
            name, lambda: connect(path, readonly=readonly), _close, _never_broken, translate
        )

    writer = Pool([worker("central-sqlite-writer", False)])
    reader = Pool([worker(f"central-sqlite-reader-{i}", True) for i in range(readers)])
    return SqlStorage(
        SqliteDialect(), writer, reader, clock, describe=f"sqlite:{path}", group_commit=True
    )


def _close(conn: sqlite3.Connection) -> None:
    conn.close()


def _never_broken(conn: sqlite3.Connection) -> bool:
    return False


def translate(exc: BaseException, conn: sqlite3.Connection | None) -> BaseException:
    """sqlite3's error as central's StorageError tree, decided by its primary result code."""
    if isinstance(exc, OSError):  # the database's folder cannot be created
        error = StorageError(f"cannot create the SQLite database's folder: {exc}")
        error.__cause__ = exc
        return error
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if code is not None and code & 0xFF in _RETRYABLE:
        found: StorageError = StorageUnavailable(f"SQLite busy or unreachable ({name}): {exc}")
    else:
        found = StorageError(f"SQLite statement failed ({name}): {exc}")
    found.__cause__ = exc
    return found
