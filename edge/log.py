"""The durable log: every reading, alarm and gateway event, committed before anything else.

One writer thread owns the SQLite connection and does **group commit**: it takes whatever
is waiting in its queue (up to `batch_rows` rows), writes it in one transaction with
`synchronous=FULL` and only then tells the producers (futures for asyncio callers, a
callback for the MQTT driver that acknowledges PUBLISHes). A producer never waits for a
timer: the next commit starts as soon as the previous one is done.

Each committed entry gets the next `seq` (gap-free, never reused). Consumers (`redis`,
`sync`) follow named cursors that only move forward. Rows every cursor has passed are
pruned after `keep_delivered`; above `max_bytes` delivered rows go first, then the oldest
undelivered readings, never alarms (`keep`); each drop is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from drivers.base import Reject
from edge import schema
from edge.entry import Entry, Stored
from edge.errors import LogClosedError, LogError
from edge.sqlite import connect
from runtime import tracing

log = logging.getLogger("tracseq.edge.log")

# Called with the seqs once committed, or with None when the write failed.
OnCommit = Callable[[list[int | None] | None], None]
Listener = Callable[[list[Stored]], None]

_COLUMNS = "(seq, type, subject, time, received, data, keep, trace)"
_INSERT = f"INSERT INTO entries {_COLUMNS} VALUES (?,?,?,?,?,?,?,?)"
_INSERT_OR_IGNORE = f"INSERT OR IGNORE INTO entries {_COLUMNS} VALUES (?,?,?,?,?,?,?,?)"
_READ = "SELECT seq, type, subject, time, received, data, trace FROM entries"
_MAINTENANCE_EVERY = 2.0  # seconds between size/age checks while busy
_DROP_CHUNK = 5000
_WAL_LIMIT = 64 * 1024 * 1024  # bytes of WAL before maintenance truncates it


@dataclass(slots=True)
class _Op:
    """One request to the writer thread."""

    entries: Sequence[Entry] = ()
    rejects: Sequence[Reject] = ()
    cursor: tuple[str, int] | None = None
    state: dict[str, bytes | None] | None = None
    on_commit: OnCommit | None = None
    stop: bool = False
    seqs: list[int | None] = field(default_factory=list)


@dataclass(slots=True)
class LogStats:
    """Counters an operator sees in /metrics and `status`."""

    committed_entries: int = 0
    duplicates: int = 0
    rejects: int = 0
    commits: int = 0
    dropped_delivered: int = 0
    dropped_undelivered: int = 0
    pruned: int = 0
    write_errors: int = 0
    last_error: str | None = None
    used_bytes: int = 0


class DurableLog:
    """The gateway's SQLite log. Create with `DurableLog.open(...)` inside the event loop."""

    def __init__(
        self,
        path: Path,
        *,
        cursors: Iterable[str],
        max_bytes: int,
        keep_delivered: float,
        batch_rows: int = 2000,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.cursor_names = tuple(cursors)
        self.max_bytes = max_bytes
        self.keep_delivered = keep_delivered
        self.batch_rows = batch_rows
        self.stats = LogStats()
        self._wall = wall
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._conn = connect(path)
        schema.migrate(self._conn)
        self._next_seq = self._load_last_seq() + 1
        self._cursors = self._load_cursors()
        self.last_seq = self._next_seq - 1  # committed, as seen by the event loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Listener] = []
        self._commit_waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader")
        self._reader_conn: sqlite3.Connection | None = None
        self._last_maintenance = 0.0
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        cursors: Iterable[str] = (),
        max_bytes: int = 2 * 1024**3,
        keep_delivered: float = 7 * 86400.0,
        batch_rows: int = 2000,
        wall: Callable[[], float] = time.time,
    ) -> DurableLog:
        """Open (creating or migrating) the log at `path` and start its writer thread."""
        try:
            self = cls(
                path,
                cursors=cursors,
                max_bytes=max_bytes,
                keep_delivered=keep_delivered,
                batch_rows=batch_rows,
                wall=wall,
            )
        except sqlite3.Error as exc:
            raise LogError(f"{path}: cannot open the durable log: {exc}") from exc
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.stats.used_bytes = self._used_bytes()
        self._thread.start()
        return self

    # --- writing (thread-safe) ---------------------------------------------------------

    def submit(
        self,
        entries: Sequence[Entry],
        on_commit: OnCommit | None = None,
        *,
        state: dict[str, bytes | None] | None = None,
    ) -> None:
        """Queue entries (and state changes, atomically with them) for the next commit.

        `on_commit(seqs)` runs in the writer thread once they are on disk; a seq is None
        for a reading whose (sensor, sensor time) was already in the log.
        """
        if self._closed:
            raise LogClosedError("the durable log is closed")
        self._queue.put(_Op(entries=entries, state=state, on_commit=on_commit))

    def submit_reject(self, reject: Reject, on_commit: OnCommit | None = None) -> None:
        """Queue a rejected payload for the rejects table."""
        if self._closed:
            raise LogClosedError("the durable log is closed")
        self._queue.put(_Op(rejects=(reject,), on_commit=on_commit))

    async def append(
        self, entries: Sequence[Entry], *, state: dict[str, bytes | None] | None = None
    ) -> list[int | None]:
        """Append and wait until committed; returns the seqs (None for duplicates)."""
        future = self._future()
        self.submit(entries, self._resolver(future), state=state)
        return await future

    async def reject(self, reject: Reject) -> None:
        """Keep a rejected payload; returns once committed."""
        future = self._future()
        self.submit_reject(reject, self._resolver(future))
        await future

    async def advance(self, cursor: str, seq: int) -> None:
        """Move `cursor` forward to `seq` (never backwards); returns once committed."""
        if cursor not in self.cursor_names:
            raise LogError(f"unknown cursor {cursor!r}")
        future = self._future()
        self._queue.put(_Op(cursor=(cursor, seq), on_commit=self._resolver(future)))
        await future

    async def put_state(self, key: str, value: bytes | None) -> None:
        """Set (or delete, with None) one key of the log's key/value state."""
        await self.append((), state={key: value})

    def cursor(self, name: str) -> int:
        return self._cursors[name]

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(stored)` in the event loop after each commit, in seq order."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling `listener` (a component replaced by a config reload)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Wait until an entry past `seq` is committed; False on timeout."""
        if self.last_seq > seq:
            return True
        if self._commit_waiter is None or self._commit_waiter.done():
            self._commit_waiter = asyncio.get_running_loop().create_future()
        try:
            # Not asyncio.wait_for: on 3.11 it swallows a cancellation that arrives together
            # with a commit, and the caller (a publisher being shut down) then never stops.
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._commit_waiter)
        except TimeoutError:
            return False
        return self.last_seq > seq

    # --- reading -----------------------------------------------------------------------

    async def read(self, after: int, limit: int) -> list[Stored]:
        """Up to `limit` committed entries with seq > `after`, in seq order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self.read_now, after, limit)

    def read_now(self, after: int, limit: int) -> list[Stored]:
        """`read` for the reader thread or synchronous tools."""
        if self._reader_conn is None:
            self._reader_conn = connect(self.path)
        rows = self._reader_conn.execute(
            f"{_READ} WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [Stored.from_row(row) for row in rows]

    def state(self, prefix: str = "") -> dict[str, bytes]:
        """The key/value state whose keys start with `prefix` (read at start-up)."""
        rows = self._conn_for_state().execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
        )
        return {
            key: value.encode() if isinstance(value, str) else bytes(value) for key, value in rows
        }

    def _conn_for_state(self) -> sqlite3.Connection:
        # Before the writer starts, its connection is free; afterwards use a reader one.
        if not self._thread.is_alive():
            return self._conn
        return connect(self.path)

    def pending(self, cursor: str) -> int:
        """Entries committed but not yet past `cursor`."""
        return max(0, self.last_seq - self._cursors[cursor])

    # --- lifecycle ---------------------------------------------------------------------

    async def close(self) -> None:
        """Commit everything queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_Op(stop=True))
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._reader.shutdown(wait=True)
        if self._reader_conn is not None:
            self._reader_conn.close()

    def close_sync(self) -> None:
        """`close` for synchronous callers (tools, benchmarks)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_Op(stop=True))
        self._thread.join()
        self._reader.shutdown(wait=True)

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                rows = len(batch[0].entries)
                while rows < self.batch_rows:
                    try:
                        op = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(op)
                    rows += len(op.entries)
                stop = any(op.stop for op in batch)
                self._commit_batch([op for op in batch if not op.stop])
                if stop:
                    # Anything queued after the stop request still gets committed.
                    leftover = []
                    while True:
                        try:
                            leftover.append(self._queue.get_nowait())
                        except queue.Empty:
                            break
                    self._commit_batch([op for op in leftover if not op.stop])
                    return
                if time.monotonic() - self._last_maintenance > _MAINTENANCE_EVERY:
                    self._maintain()
        finally:
            self._conn.close()

    def _commit_batch(self, batch: list[_Op]) -> None:
        if not batch:
            return
        next_before = self._next_seq
        try:
            # Only an intake batch's first entry carries its trace (edge.pipeline); a commit
            # of untraced entries or cursor moves alone gets no span (no orphan traces).
            traces = (
                [op.entries[0].trace for op in batch if op.entries and op.entries[0].trace]
                if tracing.enabled()
                else []
            )
            if traces:
                with tracing.batch_span("edge.log.commit", traces):
                    self._write(batch)
            else:
                self._write(batch)
        except sqlite3.Error as exc:
            self._next_seq = next_before
            self.stats.write_errors += 1
            self.stats.last_error = str(exc)
            with_rollback(self._conn)
            if "full" in str(exc).lower():
                log.error("log full on disk (%s): dropping the oldest readings and retrying", exc)
                try:
                    # Making room needs disk too; if even that fails, this batch fails
                    # (its producers retry) but the writer thread must live on.
                    self._make_room(emergency=True)
                    self._write(batch)
                except sqlite3.Error as again:
                    self._next_seq = next_before
                    with_rollback(self._conn)
                    self._fail(batch, again)
                    return
            else:
                self._fail(batch, exc)
                return
        committed: list[Stored] = []
        for op in batch:
            if op.on_commit is not None:
                try:
                    op.on_commit(op.seqs)
                except Exception:  # a producer's callback must not stop the writer
                    log.exception("on_commit callback failed")
            if self._listeners and op.entries:  # a cursor op's seqs hold its position
                for entry, seq in zip(op.entries, op.seqs, strict=True):
                    if seq is not None:
                        committed.append(
                            Stored(
                                seq,
                                entry.type,
                                entry.subject,
                                entry.time,
                                entry.received,
                                entry.data,
                                entry.trace,
                            )
                        )
        self._notify(self._next_seq - 1, committed)

    def _write(self, batch: list[_Op]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        rows: list[tuple[Any, ...]] = []
        start = seq = self._next_seq
        dumps = orjson.dumps
        for op in batch:
            op.seqs = []
            for e in op.entries:
                rows.append(
                    (seq, e.type, e.subject, e.time, e.received, dumps(e.data), e.keep, e.trace)
                )
                op.seqs.append(seq)
                seq += 1
        if rows:
            conn.execute("SAVEPOINT rows")
            try:
                conn.executemany(_INSERT, rows)
                conn.execute("RELEASE rows")
            except sqlite3.IntegrityError:
                # A redelivered reading: redo this batch row by row, skipping duplicates
                # without spending a seq on them (seqs stay gap-free).
                conn.execute("ROLLBACK TO rows")
                conn.execute("RELEASE rows")
                seq = self._insert_skipping_duplicates(batch)
        self._next_seq = seq
        rejects = [(r.received, r.source, r.reason, r.payload) for op in batch for r in op.rejects]
        if rejects:
            conn.executemany(
                "INSERT INTO rejects (received, source, reason, payload) VALUES (?,?,?,?)",
                rejects,
            )
        for op in batch:
            if op.cursor is not None:
                name, position = op.cursor
                position = min(position, seq - 1)
                conn.execute(
                    "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(name) "
                    "DO UPDATE SET seq = max(seq, excluded.seq)",
                    (name, position),
                )
                op.seqs = [position]
            if op.state:
                for key, value in op.state.items():
                    if value is None:
                        conn.execute("DELETE FROM state WHERE key = ?", (key,))
                    else:
                        conn.execute(
                            "INSERT INTO state VALUES (?, ?) ON CONFLICT(key) "
                            "DO UPDATE SET value = excluded.value",
                            (key, value),
                        )
        if rows:
            conn.execute(
                "INSERT INTO state VALUES ('last_seq', ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value",
                (str(seq - 1).encode(),),
            )
        conn.execute("COMMIT")
        for op in batch:
            if op.cursor is not None:
                name, _ = op.cursor
                self._cursors[name] = max(self._cursors.get(name, 0), op.seqs[0] or 0)
        self.stats.committed_entries += seq - start
        self.stats.rejects += len(rejects)
        self.stats.commits += 1

    def _insert_skipping_duplicates(self, batch: list[_Op]) -> int:
        seq = self._next_seq
        dumps = orjson.dumps
        for op in batch:
            op.seqs = []
            for e in op.entries:
                cur = self._conn.execute(
                    _INSERT_OR_IGNORE,
                    (seq, e.type, e.subject, e.time, e.received, dumps(e.data), e.keep, e.trace),
                )
                if cur.rowcount == 1:
                    op.seqs.append(seq)
                    seq += 1
                else:
                    op.seqs.append(None)
                    self.stats.duplicates += 1
        return seq

    def _fail(self, batch: list[_Op], exc: BaseException) -> None:
        log.error("durable log write failed, %d requests not committed: %s", len(batch), exc)
        error = LogError(f"durable log write failed: {exc}")
        for op in batch:
            op.seqs = []
            if op.on_commit is not None:
                try:
                    op.on_commit(None)
                except Exception:
                    log.exception("on_commit callback failed")
        self.stats.last_error = str(error)

    # --- maintenance: age pruning and the size cap -------------------------------------

    def _maintain(self) -> None:
        self._last_maintenance = time.monotonic()
        try:
            self._prune_delivered()
            self._make_room(emergency=False)
            self.stats.used_bytes = self._used_bytes()
            self._shrink_wal()
        except sqlite3.Error as exc:
            with_rollback(self._conn)
            log.error("log maintenance failed: %s", exc)

    def _shrink_wal(self) -> None:
        """Give the WAL file's space back once it outgrows a small share of max_bytes
        (SQLite reuses a WAL but never shrinks it), so the log's disk use stays bounded."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            size = wal.stat().st_size
        except OSError:
            return
        if size > min(_WAL_LIMIT, self.max_bytes // 8):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _delivered_seq(self) -> int:
        if not self.cursor_names:
            return self._next_seq - 1
        return min(self._cursors.get(name, 0) for name in self.cursor_names)

    def _prune_delivered(self) -> None:
        cutoff = self._wall() - self.keep_delivered
        delivered = self._delivered_seq()
        while True:
            cur = self._conn.execute(
                "DELETE FROM entries WHERE seq IN (SELECT seq FROM entries WHERE seq <= ? "
                "AND received < ? ORDER BY seq LIMIT ?)",
                (delivered, cutoff, _DROP_CHUNK),
            )
            self.stats.pruned += cur.rowcount
            if cur.rowcount < _DROP_CHUNK:
                break
        self._conn.execute("DELETE FROM rejects WHERE received < ?", (cutoff,))
        self._conn.execute("DELETE FROM quarantine WHERE at < ?", (cutoff,))

    def _used_bytes(self) -> int:
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def _make_room(self, *, emergency: bool) -> None:
        used = self._used_bytes()
        if used <= self.max_bytes and not emergency:
            return
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
            self.stats.dropped_delivered += cur.rowcount
            self._count("dropped:delivered", cur.rowcount)
            used = self._used_bytes()
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
            used = self._used_bytes()
            if cur.rowcount == 0 or emergency:
                break
        if dropped:
            self.stats.dropped_undelivered += dropped
            self._count("dropped:undelivered", dropped)
            log.error(
                "LOG FULL: dropped %d undelivered readings (max_bytes=%d, used=%d); "
                "alarms are kept. Check that Redis and central are reachable.",
                dropped,
                self.max_bytes,
                used,
            )
        self.stats.used_bytes = used

    def _rows_for(self, excess_bytes: int) -> int:
        """How many rows to delete to free about `excess_bytes` (from the mean row size)."""
        low, high = self._conn.execute("SELECT min(seq), max(seq) FROM entries").fetchone()
        rows = (high - low + 1) if low is not None else 1
        per_row = max(1, self._used_bytes() // max(rows, 1))
        return max(100, min(_DROP_CHUNK * 10, int(excess_bytes * 1.1 / per_row) + 1))

    def _count(self, key: str, n: int) -> None:
        """Add `n` to a persistent counter in the state table (survives restarts)."""
        if n:
            self._conn.execute(
                "INSERT INTO state VALUES (?, CAST(? AS TEXT)) ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)",
                (key, n, n),
            )

    # --- start-up ----------------------------------------------------------------------

    def _load_last_seq(self) -> int:
        row = self._conn.execute("SELECT value FROM state WHERE key = 'last_seq'").fetchone()
        stored = int(bytes(row[0]).decode()) if row else 0
        top = self._conn.execute("SELECT max(seq) FROM entries").fetchone()[0] or 0
        return max(stored, int(top))

    def _load_cursors(self) -> dict[str, int]:
        found = dict(self._conn.execute("SELECT name, seq FROM cursors").fetchall())
        return {name: int(found.get(name, 0)) for name in self.cursor_names}

    # --- handing results to the event loop ---------------------------------------------

    def _future(self) -> asyncio.Future[list[int | None]]:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        return loop.create_future()

    def _resolver(self, future: asyncio.Future[list[int | None]]) -> OnCommit:
        loop = future.get_loop()

        def resolve(seqs: list[int | None] | None) -> None:
            loop.call_soon_threadsafe(_settle, future, seqs)

        return resolve

    def _notify(self, last_seq: int, committed: list[Stored]) -> None:
        if self._loop is None or self._loop.is_closed():
            self.last_seq = last_seq
            return
        try:
            self._loop.call_soon_threadsafe(self._committed, last_seq, committed)
        except RuntimeError:  # the loop closed while we were committing
            self.last_seq = last_seq

    def _committed(self, last_seq: int, committed: list[Stored]) -> None:
        self.last_seq = max(self.last_seq, last_seq)
        if committed:
            for listener in self._listeners:
                try:
                    listener(committed)
                except Exception:
                    log.exception("log listener failed")
        if self._commit_waiter is not None and not self._commit_waiter.done():
            self._commit_waiter.set_result(None)


def _settle(future: asyncio.Future[list[int | None]], seqs: list[int | None] | None) -> None:
    if future.done():
        return
    if seqs is None:
        future.set_exception(LogError("the durable log could not commit; see the log's errors"))
    else:
        future.set_result(seqs)


def with_rollback(conn: sqlite3.Connection) -> None:
    """Roll back an open transaction, if any (after a failed write)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
