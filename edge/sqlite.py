"""The one place that opens the durable log's SQLite file, and that reads SQLite's errors.

`connect` sets the pragmas every connection needs; `log_error` turns a `sqlite3.Error` into
the edge's `LogError` tree by its result code (`sqlite_errorcode`), never by its text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.errors import LogError, LogFullError
from runtime.private_files import create_private

SQLITE_FULL = 13  # "database or disk is full" (also PRAGMA max_page_count reached)
# Every commit appends whole pages to the WAL: the newest leaf of each b-tree it touched,
# however few bytes changed. 1 KiB pages make a small commit (a lone reading) a quarter
# of the WAL bytes of 4 KiB pages. Only a new log gets it (SQLite fixes the page size when
# the file is created; an existing log keeps its own).
PAGE_SIZE = 1024
# WAL bytes between automatic checkpoints (SQLite counts pages: 1000 by default, 1 MiB at
# 1 KiB pages). A checkpoint writes each page once however many commits changed it, and
# costs two syncs; 4 MiB keeps that under one checkpoint a second at 5,000 readings/s.
CHECKPOINT_BYTES = 4 * 1024 * 1024


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
        create_private(path)  # 0600: the log holds every reading and event
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL mode: a new file only
        conn.execute("PRAGMA journal_mode=WAL")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_BYTES // page_size}")
        # The writer's savepoint journal (edge.log.writer) holds the pages a commit changed;
        # in a temporary file they are written to disk for nothing.
        conn.execute("PRAGMA temp_store=MEMORY")
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
