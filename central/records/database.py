"""A plain connection to central's database for the records commands, and their audit row."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from central.storage import StorageError, check_url
from central.storage.dialect import Dialect
from central.storage.people import append_audit


class RecordsError(StorageError):
    """A backup, restore, verification or archive could not be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Database:
    """The database a `--db URL` names."""

    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    @property
    def schema(self) -> str | None:
        """PostgreSQL: the schema named by `options=-csearch_path=...`, else None (public)."""
        options = parse_qs(urlsplit(self.url).query).get("options", [])
        for option in options:
            text = unquote(option)
            if "search_path=" in text:
                return text.split("search_path=", 1)[1].split(",")[0].split()[0]
        return None

    @property
    def libpq_url(self) -> str:
        """The URL for pg_dump/pg_restore (they read the same libpq URLs)."""
        return self.url.replace("postgres://", "postgresql://", 1)


def parse_db(url: str) -> Database:
    check_url(url)
    return Database(url)


@contextlib.contextmanager
def connection(db: Database, *, readonly: bool = False) -> Iterator[tuple[Any, Dialect]]:
    """A connection and its dialect; closed on exit. Connection failures are RecordsError."""
    conn: Any
    dialect: Dialect
    if db.is_sqlite:
        from central.storage.sqlite import SqliteDialect, connect, path_of

        path = path_of(db.url)
        if readonly and not path.exists():
            raise RecordsError(f"{path}: no such database")
        conn, dialect = connect(path, readonly=readonly), SqliteDialect()
    else:
        import psycopg

        from central.storage.postgres import PostgresDialect
        from central.storage.postgres import connect as pg_connect

        try:
            conn = pg_connect(db.url)
        except psycopg.Error as exc:
            raise RecordsError(f"cannot connect to PostgreSQL: {exc}") from None
        dialect = PostgresDialect()
    try:
        yield conn, dialect
    finally:
        conn.close()


def has_tables(conn: Any, dialect: Dialect) -> bool:
    """True when central's schema exists in the database (its migrations table)."""
    if dialect.name == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        return dialect.one(conn, sql) is not None
    return bool(dialect.one(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL")[0])


def audit(db: Database, actor: str, action: str, target: str, new: Any) -> None:
    """Append one row to the audit trail of `db` (it must hold central's schema)."""
    with connection(db) as (conn, dialect):
        append_audit(conn, dialect, time.time(), actor, action, target, None, new)
