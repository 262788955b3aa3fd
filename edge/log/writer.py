"""The writer: one thread owns the write connection and does group commit.

It takes whatever is queued (up to `batch_rows` rows), lets the commit window decide whether
to wait a little for more (edge.log.window), writes it in one transaction with
`synchronous=FULL` and only then hands the outcome back — once per commit, whatever the
number of requests in it. `async with Writer(...)` owns the thread: it starts on entry and,
on exit, everything queued is committed before the thread stops.

A failed commit is rolled back and every request in it gets the `LogError` that says why
(SQLITE_FULL: `LogFullError`, after one attempt to make room), chained to SQLite's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from drivers.base import Reject
from edge.entry import Entry, Stored
from edge.errors import LogError
from edge.log import state
from edge.log.retention import Retention
from edge.log.stats import LogStats
from edge.log.window import CommitWindow
from edge.sqlite import is_full, log_error
from runtime import events, tracing

log = logging.getLogger("tracseq.edge.log")

# Called with the seqs once committed, or with None when the write failed.
OnCommit = Callable[[list[int | None] | None], None]

_COLUMNS = "(seq, type, subject, time, received, data, keep, trace, value)"
_INSERT = f"INSERT INTO entries {_COLUMNS} VALUES (?,?,?,?,?,?,?,?,?)"
_INSERT_OR_IGNORE = f"INSERT OR IGNORE INTO entries {_COLUMNS} VALUES (?,?,?,?,?,?,?,?,?)"


@dataclass(slots=True)
class Request:
    """One request to the writer thread; `seqs`/`error` hold its outcome."""

    entries: Sequence[Entry] = ()
    rejects: Sequence[Reject] = ()
    cursor: tuple[str, int] | None = None
    state: Mapping[str, bytes | None] | None = None
    on_commit: OnCommit | None = None
    future: asyncio.Future[list[int | None]] | None = None
    urgent: bool = False  # commit without waiting for the commit window
    maintain: bool = False  # run retention right after this commit
    stop: bool = False
    at: float = 0.0  # when it was submitted (the window's clock)
    seqs: list[int | None] = field(default_factory=list)
    error: LogError | None = None


# Called in the writer thread once per commit: (last committed seq, new entries, requests).
Deliver = Callable[[int, list[Stored], list[Request]], None]


class Writer:
    """The group-commit thread over the log's write connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        stats: LogStats,
        retention: Retention,
        window: CommitWindow,
        next_seq: int,
        cursors: dict[str, int],
        batch_rows: int,
        deliver: Deliver,
    ) -> None:
        self._conn = conn
        self._path = path
        self._stats = stats
        self.retention = retention
        self.window = window
        self.next_seq = next_seq
        self.cursors = cursors  # committed positions; read by the event loop
        self.batch_rows = batch_rows
        self._deliver = deliver
        self._queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._urgent = False
        self._stopping = False
        self._held: list[Request] = []  # cursor moves kept out of a commit of readings
        self.holding = 0  # requests waiting for the commit window (observable in tests)

    # --- lifetime ----------------------------------------------------------------------

    async def __aenter__(self) -> Writer:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    async def stop(self) -> None:
        """Commit everything queued, then end the thread (without blocking the loop)."""
        self.put(Request(stop=True))
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def stop_sync(self) -> None:
        self.put(Request(stop=True))
        if self._thread.is_alive():
            self._thread.join()

    def put(self, request: Request) -> None:
        """Queue a request (any thread)."""
        request.at = self.window.clock()
        self._queue.put(request)

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        window = self.window
        try:
            while True:
                batch, self._held = self._held, []
                rows = 0 if batch else self._take(batch, self._queue.get(), 0)
                while not self._stopping:
                    lazy = all(r.cursor is not None for r in batch)
                    deadline = window.deadline(
                        urgent=self._urgent, full=rows >= self.batch_rows, lazy=lazy
                    )
                    timeout = None if deadline is None else deadline - window.clock()
                    if timeout is None or timeout <= 0:
                        break
                    self.holding = len(batch)
                    try:
                        rows = self._take(batch, self._queue.get(timeout=timeout), rows)
                    except queue.Empty:
                        break
                    finally:
                        self.holding = 0
                window.committing()
                self._urgent = False
                self._commit(self._hold_cursor_moves(batch))
                if self._stopping:
                    # Anything queued after the stop request still gets committed.
                    leftover: list[Request] = []
                    with contextlib.suppress(queue.Empty):
                        while True:
                            leftover.append(self._queue.get_nowait())
                    self._commit(leftover)
                    return
                if self.retention.due():
                    self._maintain()
        finally:
            self._conn.close()

    def _take(self, batch: list[Request], first: Request, rows: int) -> int:
        """Add `first` and whatever else is queued (up to `batch_rows` rows) to `batch`."""
        request: Request | None = first
        while request is not None:
            batch.append(request)
            rows += len(request.entries)
            self.window.arrived(request.at)
            if request.urgent or request.maintain:
                self._urgent = True
            if request.stop:
                self._stopping = True
            if rows >= self.batch_rows:
                break
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                request = None
        return rows

    def _hold_cursor_moves(self, batch: list[Request]) -> list[Request]:
        """Keep cursor moves out of a commit of readings until they are due (the window's
        `cursors_due`): a later commit takes them, or they commit alone, lazily."""
        if not self._stopping and any(r.entries for r in batch) and not self.window.cursors_due():
            held = [r for r in batch if _cursor_only(r)]
            if held:
                self._held = held
                batch = [r for r in batch if not _cursor_only(r)]
        if any(r.cursor is not None for r in batch):
            self.window.cursors_written()
        return batch

    def _commit(self, batch: list[Request]) -> None:
        work = [r for r in batch if not r.stop]
        if not work:
            return
        next_before = self.next_seq
        try:
            self._write_traced(work)
        except sqlite3.Error as exc:
            self.next_seq = next_before
            self._stats.write_errors += 1
            with_rollback(self._conn)
            if not is_full(exc):
                self._fail(work, exc)
                return
            log.error("log full on disk (%s): dropping the oldest readings and retrying", exc)
            try:
                # Making room needs disk too; if even that fails, this batch fails
                # (its producers retry) but the writer thread must live on.
                self.retention.make_room(emergency=True)
                self._write(work)
            except sqlite3.Error as again:
                self.next_seq = next_before
                with_rollback(self._conn)
                self._fail(work, again)
                return
        if any(r.maintain for r in work):
            self._maintain()
        stored: list[Stored] = []
        for request in work:
            if request.entries:  # a cursor request's seqs hold its position
                for e, seq in zip(request.entries, request.seqs, strict=True):
                    if seq is not None:
                        stored.append(
                            Stored(seq, e.type, e.subject, e.time, e.received, e.data, e.trace)
                        )
        self._deliver(self.next_seq - 1, stored, work)

    def _write_traced(self, batch: list[Request]) -> None:
        # Only an intake batch's first entry carries its trace (edge.pipeline); a commit
        # of untraced entries or cursor moves alone gets no span (no orphan traces).
        traces = (
            [r.entries[0].trace for r in batch if r.entries and r.entries[0].trace]
            if tracing.enabled()
            else []
        )
        if traces:
            with tracing.batch_span("edge.log.commit", traces):
                self._write(batch)
        else:
            self._write(batch)

    def _write(self, batch: list[Request]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        rows: list[tuple[Any, ...]] = []
        start = seq = self.next_seq
        for request in batch:
            request.seqs = []
            for e in request.entries:
                rows.append(_row(seq, e))
                request.seqs.append(seq)
                seq += 1
        if rows:
            conn.execute("SAVEPOINT rows")
            try:
                conn.executemany(_INSERT, rows)
                conn.execute("RELEASE rows")
            except sqlite3.IntegrityError:
                # A redelivered reading (same sensor, sensor time and value): redo this
                # batch row by row, skipping duplicates
                # without spending a seq on them (seqs stay gap-free).
                conn.execute("ROLLBACK TO rows")
                conn.execute("RELEASE rows")
                seq = self._insert_skipping_duplicates(batch)
        rejects = [(r.received, r.source, r.reason, r.payload) for q in batch for r in q.rejects]
        if rejects:
            conn.executemany(
                "INSERT INTO rejects (received, source, reason, payload) VALUES (?,?,?,?)",
                rejects,
            )
        for request in batch:
            if request.cursor is not None:
                name, position = request.cursor
                position = min(position, seq - 1)
                state.move_cursor(conn, name, position)
                request.seqs = [position]
            if request.state:
                state.write(conn, request.state)
        # `last_seq` is not written here (a page per commit): max(seq) says it until
        # retention deletes rows, and retention records it first (state.keep_last_seq).
        conn.execute("COMMIT")
        self.next_seq = seq
        for request in batch:
            if request.cursor is not None:
                name = request.cursor[0]
                self.cursors[name] = max(self.cursors.get(name, 0), request.seqs[0] or 0)
        self._stats.committed_entries += seq - start
        self._stats.rejects += len(rejects)
        self._stats.commits += 1

    def _insert_skipping_duplicates(self, batch: list[Request]) -> int:
        seq = self.next_seq
        for request in batch:
            request.seqs = []
            for e in request.entries:
                cur = self._conn.execute(_INSERT_OR_IGNORE, _row(seq, e))
                if cur.rowcount == 1:
                    request.seqs.append(seq)
                    seq += 1
                else:
                    request.seqs.append(None)
                    self._stats.duplicates += 1
        return seq

    def _fail(self, batch: list[Request], exc: sqlite3.Error) -> None:
        rows = sum(len(r.entries) for r in batch)
        error = log_error(exc, self._path, f"commit of {rows} entries failed")
        log.error("durable log write failed, %d requests not committed: %s", len(batch), error)
        for request in batch:
            request.seqs = []
            request.error = error
        self._stats.last_error = str(error)
        self._deliver(self.next_seq - 1, [], batch)

    def _maintain(self) -> None:
        try:
            self.retention.maintain()
        except sqlite3.Error as exc:
            with_rollback(self._conn)
            log.error("log maintenance failed: %s", log_error(exc, self._path, "maintenance"))


def _cursor_only(request: Request) -> bool:
    """A publisher's cursor move (`advance`), nothing else."""
    return (
        request.cursor is not None
        and not request.entries
        and not request.rejects
        and not request.state
        and not request.maintain
        and not request.stop
    )


def _row(seq: int, e: Entry) -> tuple[Any, ...]:
    # A reading's value is part of its identity (sensor, sensor time, value): schema v3.
    value = e.data.get("value") if e.type == events.READING else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        value = None
    data = orjson.dumps(e.data)
    return (seq, e.type, e.subject, e.time, e.received, data, e.keep, e.trace, value)


def with_rollback(conn: sqlite3.Connection) -> None:
    """Roll back an open transaction, if any (after a failed write)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
