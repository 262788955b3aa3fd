"""The sync quarantine: events central rejected, kept in the log's `quarantine` table.

A quarantined event is never retried automatically and never lost: it stays (seq, the
event as sent, central's reason, when) for an operator to inspect (`tracseq-edge status`
counts them), while the events around it flow on. Writing the same seq again replaces
the row, so a batch resent after a restart quarantines its bad event only once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.sqlite import connect, log_error


class Quarantine:
    """Writes to the log's quarantine table; used from one thread (the sync worker)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def put(self, seq: int, event: bytes, reason: str, at: float) -> None:
        """Keep one rejected event; returns once it is on disk."""
        try:
            # Autocommit: one statement, one durable transaction (synchronous=FULL).
            self._connection().execute(
                "INSERT OR REPLACE INTO quarantine (seq, event, reason, at) VALUES (?,?,?,?)",
                (seq, event, reason, at),
            )
        except sqlite3.Error as exc:
            raise log_error(exc, self._path, f"cannot quarantine event seq {seq}") from exc

    def count(self) -> int:
        """Events in quarantine."""
        try:
            return int(self._connection().execute("SELECT count(*) FROM quarantine").fetchone()[0])
        except sqlite3.Error as exc:
            raise log_error(exc, self._path, "cannot read the quarantine") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._path)
        return self._conn
