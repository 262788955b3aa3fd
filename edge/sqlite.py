"""The one place that opens the durable log's SQLite file with the right pragmas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runtime.private_files import create_private


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL: a committed row survives power loss.

    Transactions are explicit (isolation_level=None); `check_same_thread=False` because a
    connection is owned by one dedicated thread that may not be the one that opened it.
    """
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        create_private(path)  # 0600: the log holds every reading and event
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
