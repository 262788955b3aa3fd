"""Reading the log: consumers' reads (served from memory near the head) and `LogSnapshot`.

Consumers (the Redis publisher, sync, the rule engine) read right behind the writer. The
entries of recent commits are kept in memory in the event loop (`Tail`, a bounded window
of the newest seqs), so such a read needs no thread hand-off; older positions (a backlog
after an outage, a start-up) are read from SQLite in one dedicated reader thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edge.entry import Stored
from edge.log import state
from edge.sqlite import connect, log_error
from runtime import events

_READ = "SELECT seq, type, subject, time, received, data, trace FROM entries"
TAIL_ENTRIES = 4096


class Tail:
    """The newest committed entries, contiguous in seq (event loop only)."""

    def __init__(self, last_seq: int, size: int = TAIL_ENTRIES) -> None:
        self._entries: deque[Stored] = deque(maxlen=size)
        self._first = last_seq + 1  # the seq the deque starts at
        self._last = last_seq

    def extend(self, last_seq: int, stored: list[Stored]) -> None:
        if stored and stored[0].seq != self._last + 1:  # not contiguous: start over
            self._entries.clear()
            self._first = stored[0].seq
        self._entries.extend(stored)
        self._last = max(self._last, last_seq)
        if self._entries:
            self._first = self._entries[0].seq
        else:
            self._first = self._last + 1

    def read(self, after: int, limit: int) -> list[Stored] | None:
        """Up to `limit` entries after `after`, or None when they are not all in memory."""
        if after >= self._last:
            return []
        if after + 1 < self._first:
            return None
        start = after + 1 - self._first
        entries = self._entries
        return [entries[i] for i in range(start, min(len(entries), start + limit))]


class Reader:
    """Reads from SQLite in one reader thread (its own connection)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader")
        self._conn: sqlite3.Connection | None = None

    async def read(self, after: int, limit: int) -> list[Stored]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.read_now, after, limit)

    def read_now(self, after: int, limit: int) -> list[Stored]:
        """Up to `limit` committed entries with seq > `after`, in seq order (any thread)."""
        try:
            if self._conn is None:
                self._conn = connect(self._path)
            rows = self._conn.execute(
                f"{_READ} WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        except sqlite3.Error as exc:
            raise log_error(exc, self._path, f"reading after seq {after}") from exc
        return [Stored.from_row(row) for row in rows]

    async def newest_reading_time(self, subject: str, after: float, upto: int) -> float | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.newest_reading_time_now, subject, after, upto
        )

    def newest_reading_time_now(self, subject: str, after: float, upto: int) -> float | None:
        """The newest sensor time of `subject`'s readings with seq <= `upto`, if one is
        after `after` (a range of the time-first identity index: the rows newer than it)."""
        try:
            if self._conn is None:
                self._conn = connect(self._path)
            row = self._conn.execute(
                "SELECT MAX(time) FROM entries WHERE type = ? AND time IS NOT NULL "
                "AND time > ? AND subject = ? AND seq <= ?",
                (events.READING, after, subject, upto),
            ).fetchone()
        except sqlite3.Error as exc:
            raise log_error(exc, self._path, f"reading the newest time of {subject}") from exc
        return None if row is None or row[0] is None else float(row[0])

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LogSnapshot:
    """A read-only view of a log file for tools (`tracseq-edge status`): never writes,
    never disturbs the daemon (WAL readers do not block the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = connect(path, readonly=True)
        except sqlite3.Error as exc:
            raise log_error(exc, path, "opening read-only") from exc

    def __enter__(self) -> LogSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        try:
            return self._conn.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise log_error(exc, self.path, "reading") from exc

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise log_error(exc, self.path, "reading") from exc

    def last_seq(self) -> int:
        return state.last_seq(self._conn)

    def cursors(self) -> dict[str, int]:
        return state.cursors(self._conn)

    def state(self, prefix: str) -> dict[str, bytes]:
        """A component's state (`alarm:`, `sync:`): the prefix names whose it is."""
        return state.read(self._conn, prefix)

    def dropped(self) -> dict[str, int]:
        return state.dropped(self._conn)

    def entries(self) -> int:
        return int(self._one("SELECT count(*) FROM entries")[0])

    def oldest_received_after(self, seq: int) -> float | None:
        """Receive time of the first entry past `seq` (the oldest undelivered one)."""
        row = self._one("SELECT received FROM entries WHERE seq > ? ORDER BY seq LIMIT 1", (seq,))
        return float(row[0]) if row else None

    def rejects(self, recent: int) -> tuple[int, list[tuple[float, str, str]]]:
        total = int(self._one("SELECT count(*) FROM rejects")[0])
        rows = self._all(
            "SELECT received, source, reason FROM rejects ORDER BY id DESC LIMIT ?", (recent,)
        )
        return total, [(float(r[0]), str(r[1]), str(r[2])) for r in rows]

    def quarantine(self, recent: int) -> tuple[int, list[tuple[int, str, float]]]:
        total = int(self._one("SELECT count(*) FROM quarantine")[0])
        rows = self._all(
            "SELECT seq, reason, at FROM quarantine ORDER BY seq DESC LIMIT ?", (recent,)
        )
        return total, [(int(r[0]), str(r[1]), float(r[2])) for r in rows]
