"""The PostgreSQL backend (psycopg 3): a few connections, each owned by its own thread.

Readings go in as ONE `INSERT ... SELECT ... FROM jsonb_array_elements(<the rows as one
JSON array>) ... ON CONFLICT DO NOTHING RETURNING id`: the JSON is written in C (msgspec)
and taken apart by the server. Measured on one connection (issue 17): ~1.3 µs of
central's CPU per reading and ~9 in the server, where COPY's row writer cost ~3.4 in
central and ~9.7 in the server (dumping Python lists as arrays for `unnest`, ~4x COPY's
client cost; `json` rather than `jsonb`, ~14.5 in the server: each `->>` parses the
element again). Numbers keep every bit: msgspec writes the shortest text that reads back
as the same double, jsonb keeps those decimal digits and float8 input rounds correctly
(-0.0 comes back as 0.0, as SQLite stores it). Events, fewer, use `unnest` arrays.
Readings are partitioned by time (migration 3), so their key is (id, time), hence no
conflict target. Migrations take an advisory lock so two services starting at once do
not both apply them. The schema lives in the first schema of the connection's
`search_path` (e.g. `?options=-csearch_path%3Dtracseq`).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
import psycopg

from central.storage.dialect import Dialect
from central.storage.errors import StorageError, StorageUnavailable
from central.storage.migrations import LATEST, MIGRATIONS, SCHEMA_TABLE, pending
from central.storage.records import EventRow, ReadingRow
from central.storage.runner import Pool, Worker
from central.storage.sql import SqlStorage

_MIGRATION_LOCK = 0x7472_6163_7365_71  # 'tracseq'
_CACHED_PARAMS = 50  # psycopg's MAX_CACHED_STATEMENT_PARAMS


@functools.lru_cache(maxsize=128)
def _numbered(sql: str) -> str:
    """`sql` with its `?` placeholders as $1, $2, ... (every `?` is one, as for `q`)."""
    parts = sql.split("?")
    return "".join([f"{part}${n}" for n, part in enumerate(parts[:-1], 1)]) + parts[-1]


# A ReadingRow is written as a JSON array of its fields in order.
_READINGS_SQL = """INSERT INTO readings (id, gateway, seq, sensor, time, value, unit, quantity,
    received, ingested)
SELECT r->>0, r->>1, (r->>2)::int8, r->>3, (r->>4)::float8, (r->>5)::float8, r->>6, r->>7,
    (r->>8)::float8, %s::float8
FROM jsonb_array_elements(%s::jsonb) AS r
ON CONFLICT DO NOTHING RETURNING id"""
_EVENTS_SQL = """INSERT INTO events (id, source, gateway, seq, type, subject, time, data, ingested)
SELECT u.*, %s::float8 FROM unnest(%s::text[], %s::text[], %s::text[], %s::int8[], %s::text[],
    %s::text[], %s::float8[], %s::text[]) AS u
ON CONFLICT (id) DO NOTHING RETURNING id"""


_CASTS = {"TEXT": "text", "FLOAT": "float8", "BIGINT": "int8", "INTEGER": "int4"}


@functools.lru_cache(maxsize=16)
def _json_rows(types: tuple[str, ...]) -> str:
    columns = ", ".join(f"(r->>{i})::{_CASTS[t]}" for i, t in enumerate(types))
    return f"SELECT {columns} FROM jsonb_array_elements(?::jsonb) AS r"


@functools.lru_cache(maxsize=16)
def _unnest(types: tuple[str, ...]) -> str:
    return "SELECT * FROM unnest(" + ", ".join(f"?::{_CASTS[t]}[]" for t in types) + ")"


def _finite(rows: Sequence[Sequence[Any]]) -> bool:
    """No float of `rows` is infinite or NaN (a sum that overflows says no too)."""
    return math.isfinite(sum(v for row in rows for v in row if type(v) is float))


class PostgresDialect(Dialect):
    name = "postgresql"

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()) -> Any:
        if len(params) <= _CACHED_PARAMS:
            return conn.execute(self.q(sql), tuple(params))
        # More than 50 parameters (rows and id lists go through `rows` and `one_of`, so not
        # on the ingest path): psycopg would parse the %s placeholders in Python on every
        # call (it caches only statements of up to 50). Given in PostgreSQL's own $n form,
        # the statement goes out as it is.
        return psycopg.RawCursor(conn).execute(_numbered(sql), tuple(params))

    def rows(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        # The statement's text is the same whatever the number of rows: psycopg keeps every
        # text a connection runs (its prepared-statement bookkeeping, up to 100, with a type
        # per parameter), and a multi-row VALUES of each size was another one, up to ~0.7 MB
        # for 1,000 rows. One JSON array, as for the readings; JSON has no infinity or NaN
        # (a summary's sums can overflow), so such rows go as one typed array per column,
        # which costs the client more.
        if _finite(rows):
            return _json_rows(tuple(types)), [msgspec.json.encode(rows).decode()]
        return _unnest(tuple(types)), [list(column) for column in zip(*rows, strict=True)]

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    @contextlib.contextmanager
    def transaction(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with conn.transaction():
            yield

    def insert_readings(
        self, conn: psycopg.Connection[Any], rows: Sequence[ReadingRow], now: float
    ) -> set[str]:
        if not rows:
            return set()
        cur = conn.execute(_READINGS_SQL, (now, msgspec.json.encode(rows).decode()))
        return {row[0] for row in cur.fetchall()}

    def insert_events(
        self, conn: psycopg.Connection[Any], rows: Sequence[EventRow], now: float
    ) -> set[str]:
        if not rows:
            return set()
        columns = (
            [e.id for e in rows],
            [e.source for e in rows],
            [e.gateway for e in rows],
            [e.seq for e in rows],
            [e.type for e in rows],
            [e.subject for e in rows],
            [e.time for e in rows],
            [e.data_json for e in rows],
        )
        cur = conn.execute(_EVENTS_SQL, (now, *columns))
        return {row[0] for row in cur.fetchall()}

    def bucket(self, step: float) -> str:
        return f"(floor(time / {step!r}) * {step!r})"

    def migrate(self, conn: psycopg.Connection[Any], now: float) -> int:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(SCHEMA_TABLE.format(float="DOUBLE PRECISION"))
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
            for migration in pending(MIGRATIONS, {int(r[0]) for r in rows}):
                conn.execute(migration.postgres.encode())
                if migration.then is not None:
                    migration.then(conn, self)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, now),
                )
        return LATEST


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def open_postgres(
    url: str, clock: Callable[[], float], writers: int = 4, readers: int = 2
) -> SqlStorage:
    def worker(name: str) -> Worker[Any]:
        return Worker(name, lambda: connect(url), _close, _broken, translate)

    writer = Pool([worker(f"central-pg-writer-{i}") for i in range(writers)])
    reader = Pool([worker(f"central-pg-reader-{i}") for i in range(readers)])
    host = url.split("@")[-1].split("?")[0]
    return SqlStorage(PostgresDialect(), writer, reader, clock, describe=f"postgresql:{host}")


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()


def _broken(conn: psycopg.Connection[Any]) -> bool:
    return bool(conn.closed or conn.broken)


def translate(exc: BaseException, conn: psycopg.Connection[Any] | None) -> BaseException:
    """psycopg's error as central's StorageError tree.

    OperationalError (no connection, server shut down, serialization failure, lock timeout,
    out of resources) and any error on a connection that is now broken or closed are worth
    a retry; programming, data and integrity errors are not.
    """
    if not isinstance(exc, psycopg.Error):
        return exc
    lost = conn is None or conn.closed or conn.broken
    name = type(exc).__name__
    if isinstance(exc, psycopg.OperationalError) or (
        isinstance(exc, psycopg.InterfaceError) and lost
    ):
        found: StorageError = StorageUnavailable(f"PostgreSQL unreachable or busy ({name}): {exc}")
    else:
        found = StorageError(f"PostgreSQL statement failed ({name}): {exc}")
    found.__cause__ = exc
    return found
