"""Retention: delivered rows age out after `keep_delivered`; the size cap `max_bytes`.

Runs in the writer thread between commits (every couple of seconds while busy) and, on a
full disk, right before the writer retries. Above `max_bytes` it drops, oldest first,
rows every cursor has passed, then undelivered readings; alarms and gateway events
(`keep`) are never dropped. Every drop is counted in the state table (`status` shows it)
and undelivered drops are logged as errors.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge.log import state
from edge.log.stats import LogStats

log = logging.getLogger("tracseq.edge.log")

MAINTENANCE_EVERY = 2.0  # seconds between size/age checks while busy
_DROP_CHUNK = 5000
_WAL_LIMIT = 64 * 1024 * 1024  # bytes of WAL before maintenance truncates it


class Retention:
    """Age pruning and the size cap over the writer's connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        stats: LogStats,
        *,
        max_bytes: int,
        keep_delivered: float,
        delivered_seq: Callable[[], int],
        wall: Callable[[], float],
    ) -> None:
        self._conn = conn
        self._path = path
        self._stats = stats
        self.max_bytes = max_bytes
        self.keep_delivered = keep_delivered
        self._delivered_seq = delivered_seq
        self._wall = wall
        self.last_run = 0.0

    def due(self) -> bool:
        return time.monotonic() - self.last_run > MAINTENANCE_EVERY

    def maintain(self) -> None:
        """Prune, enforce the cap, give back WAL space (outside any transaction)."""
        self.last_run = time.monotonic()
        self.prune_delivered()
        self.make_room(emergency=False)
        self._stats.used_bytes = self.used_bytes()
        self._shrink_wal()

    def used_bytes(self) -> int:
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def prune_delivered(self) -> None:
        state.keep_last_seq(self._conn)
        cutoff = self._wall() - self.keep_delivered
        delivered = self._delivered_seq()
        while True:
            # Only the oldest chunk is looked at: rows are in receive order, so once it holds
            # a row too young to go, so would the rest. (A filter over every delivered row
            # walked the whole log every couple of seconds.)
            cur = self._conn.execute(
                "DELETE FROM entries WHERE seq IN (SELECT seq FROM entries WHERE seq <= ? "
                "ORDER BY seq LIMIT ?) AND received < ?",
                (delivered, _DROP_CHUNK, cutoff),
            )
            self._stats.pruned += cur.rowcount
            if cur.rowcount < _DROP_CHUNK:
                break
        self._conn.execute("DELETE FROM rejects WHERE received < ?", (cutoff,))
        self._conn.execute("DELETE FROM quarantine WHERE at < ?", (cutoff,))

    def make_room(self, *, emergency: bool) -> None:
        """Get under 90% of `max_bytes`; `emergency` (the disk is full): free one chunk
        whatever the size, delivered rows first."""
        used = self.used_bytes()
        if used <= self.max_bytes and not emergency:
            return
        state.keep_last_seq(self._conn)
        target = int(self.max_bytes * 0.9)
        delivered = self._delivered_seq()
        chunk = self._rows_for(used - target)
        # 1: rows already delivered everywhere, oldest first (alarms too: they are delivered).
        while used > target or emergency:
            cur = self._conn.execute(
                "DELETE FROM entries WHERE seq IN (SELECT seq FROM entries WHERE seq <= ? "
                "ORDER BY seq LIMIT ?)",
                (delivered, chunk),
            )
            self._stats.dropped_delivered += cur.rowcount
            state.count(self._conn, state.DROPPED_DELIVERED, cur.rowcount)
            used = self.used_bytes()
            if cur.rowcount == 0:
                break
            if emergency:
                emergency = False
                break
        # 2: the oldest undelivered readings; never alarms or gateway events (keep=1).
        dropped = 0
        while used > target or emergency:
            cur = self._conn.execute(
                "DELETE FROM entries WHERE seq IN (SELECT seq FROM entries WHERE keep = 0 "
                "AND type = 'org.tracseq.reading' ORDER BY seq LIMIT ?)",
                (chunk,),
            )
            dropped += cur.rowcount
            used = self.used_bytes()
            if cur.rowcount == 0 or emergency:
                break
        if dropped:
            self._stats.dropped_undelivered += dropped
            state.count(self._conn, state.DROPPED_UNDELIVERED, dropped)
            log.error(
                "LOG FULL: dropped %d undelivered readings (max_bytes=%d, used=%d); "
                "alarms are kept. Check that Redis and central are reachable.",
                dropped,
                self.max_bytes,
                used,
            )
        self._stats.used_bytes = used

    def _shrink_wal(self) -> None:
        """Give the WAL file's space back once it outgrows a small share of max_bytes
        (SQLite reuses a WAL but never shrinks it), so the log's disk use stays bounded."""
        wal = self._path.with_name(self._path.name + "-wal")
        try:
            size = wal.stat().st_size
        except OSError:
            return
        if size > min(_WAL_LIMIT, self.max_bytes // 8):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _rows_for(self, excess_bytes: int) -> int:
        """How many rows to delete to free about `excess_bytes` (from the mean row size)."""
        low, high = self._conn.execute("SELECT min(seq), max(seq) FROM entries").fetchone()
        rows = (high - low + 1) if low is not None else 1
        per_row = max(1, self.used_bytes() // max(rows, 1))
        return max(100, min(_DROP_CHUNK * 10, int(excess_bytes * 1.1 / per_row) + 1))
