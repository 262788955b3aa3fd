"""The one place that opens the durable log's SQLite file, and that reads SQLite's errors.

`connect` sets the pragmas every connection needs; `log_error` turns a `sqlite3.Error` into
the edge's `LogError` tree by its result code (`sqlite_errorcode`), never by its text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.errors import LogError, LogFullError

SQLITE_FULL = 13  # "database or disk is full" (also PRAGMA max_page_count reached)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL: a committed row survives power loss.

    Transactions are explicit (isolation_level=None); `check_same_thread=False` because a
    connection is owned by one dedicated thread that may not be the one that opened it.
    `readonly` connections (tools such as `status`) cannot write even by mistake.
    """
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def is_full(exc: sqlite3.Error) -> bool:
    """True when SQLite says the disk (or the page limit) is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_FULL


def log_error(exc: sqlite3.Error, where: Path, doing: str) -> LogError:
    """The LogError for `exc`, naming the file, what failed and what to do; chained."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if is_full(exc):
        return LogFullError(
            f"{where}: {doing}: the disk is full ({name}: {exc}); free space on that disk "
            "or lower gateway.buffer.max_bytes",
            exc,
        )
    return LogError(f"{where}: {doing}: {name}: {exc}", exc)
