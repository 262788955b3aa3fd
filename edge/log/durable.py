"""`DurableLog`: the log as the rest of the gateway sees it (append, cursors, state, reads).

Create it with `DurableLog.open(...)` inside the event loop and close it with `close()`, or
own it with `async with DurableLog.open(...) as log:`. The writer thread (edge.log.writer)
commits; once per commit one call hands the outcome back to the event loop, where
futures are settled, producers' `on_commit` callbacks run (the MQTT driver's acks),
listeners (the rule engine) get the new entries and waiting publishers wake — so a commit
of many requests costs one thread hand-off back, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from drivers.base import Reject
from edge import schema
from edge.entry import Entry, Stored
from edge.errors import LogClosedError, LogError
from edge.log import state
from edge.log.reads import Reader, Tail
from edge.log.retention import Retention
from edge.log.stats import LogStats
from edge.log.window import CommitWindow
from edge.log.writer import OnCommit, Request, Writer
from edge.sqlite import connect, log_error

log = logging.getLogger("tracseq.edge.log")

Listener = Callable[[list[Stored]], None]
DEFAULT_COMMIT_WINDOW = 0.025  # at most 40 commits/s: with WAL checkpoints <= 50 syncs/s


class DurableLog:
    """The gateway's SQLite log; see the package docstring for what it promises."""

    def __init__(
        self,
        path: Path,
        *,
        cursors: Iterable[str],
        max_bytes: int,
        keep_delivered: float,
        batch_rows: int = 2000,
        commit_window: float = DEFAULT_COMMIT_WINDOW,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.cursor_names = tuple(cursors)
        self.stats = LogStats()
        conn = connect(path)
        try:
            schema.migrate(conn)
            next_seq = state.last_seq(conn) + 1
            positions = state.cursors(conn, self.cursor_names)
        except BaseException:
            conn.close()
            raise
        self._conn = conn  # owned by the writer thread (tests limit its pages: a full disk)
        self._retention = Retention(
            conn,
            path,
            self.stats,
            max_bytes=max_bytes,
            keep_delivered=keep_delivered,
            delivered_seq=self._delivered_seq,
            wall=wall,
        )
        self._writer = Writer(
            conn,
            path,
            stats=self.stats,
            retention=self._retention,
            window=CommitWindow(commit_window, clock=clock),
            next_seq=next_seq,
            cursors=positions,
            batch_rows=batch_rows,
            deliver=self._deliver,
        )
        self.stats.used_bytes = self._retention.used_bytes()
        self.last_seq = next_seq - 1  # committed, as seen by the event loop
        self._reader = Reader(path)
        self._tail: Tail | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Listener] = []
        self._commit_waiter: asyncio.Future[None] | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        cursors: Iterable[str] = (),
        max_bytes: int = 2 * 1024**3,
        keep_delivered: float = 7 * 86400.0,
        batch_rows: int = 2000,
        commit_window: float = DEFAULT_COMMIT_WINDOW,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> DurableLog:
        """Open (creating or migrating) the log at `path` and start its writer thread."""
        try:
            self = cls(
                path,
                cursors=cursors,
                max_bytes=max_bytes,
                keep_delivered=keep_delivered,
                batch_rows=batch_rows,
                commit_window=commit_window,
                wall=wall,
                clock=clock,
            )
        except sqlite3.Error as exc:
            raise log_error(exc, path, "cannot open the durable log") from exc
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
            self._tail = Tail(self.last_seq)
        self._writer.start()
        return self

    async def __aenter__(self) -> DurableLog:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- settings retention reads (also changed by tests) --------------------------------

    @property
    def max_bytes(self) -> int:
        return self._retention.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._retention.max_bytes = value

    @property
    def keep_delivered(self) -> float:
        return self._retention.keep_delivered

    @property
    def commit_window(self) -> float:
        return self._writer.window.window

    # --- writing -----------------------------------------------------------------------

    def submit(
        self,
        entries: Sequence[Entry],
        on_commit: OnCommit | None = None,
        *,
        rejects: Sequence[Reject] = (),
        state: Mapping[str, bytes | None] | None = None,
        urgent: bool = False,
    ) -> None:
        """Queue entries and rejects (and state changes, atomically with them) for a commit.

        `on_commit(seqs)` runs in the event loop once they are on disk (None if the commit
        failed); a seq is None for a reading already in the log (a redelivery).
        `urgent`: commit without waiting for the commit window (the producer can receive
        nothing more until then). Alarms (`keep` entries) are always urgent.
        """
        self._put(
            Request(
                entries=entries,
                rejects=rejects,
                state=_checked(state),
                on_commit=on_commit,
                urgent=urgent or any(e.keep for e in entries),
            )
        )

    def submit_reject(self, reject: Reject, on_commit: OnCommit | None = None) -> None:
        """Queue a rejected payload for the rejects table."""
        self._put(Request(rejects=(reject,), on_commit=on_commit))

    async def append(
        self, entries: Sequence[Entry], *, state: Mapping[str, bytes | None] | None = None
    ) -> list[int | None]:
        """Append and wait until committed; returns the seqs (None for duplicates).

        Raises the LogError that says why when the commit failed (LogFullError: the disk
        is full), chained to SQLite's error."""
        future = self._future()
        urgent = any(e.keep for e in entries)
        self._put(Request(entries=entries, state=_checked(state), future=future, urgent=urgent))
        return await future

    async def reject(self, reject: Reject) -> None:
        """Keep a rejected payload; returns once committed."""
        future = self._future()
        self._put(Request(rejects=(reject,), future=future))
        await future

    async def advance(self, cursor: str, seq: int) -> None:
        """Move `cursor` forward to `seq` (never backwards); returns once committed."""
        if cursor not in self.cursor_names:
            raise LogError(f"unknown cursor {cursor!r}")
        future = self._future()
        self._put(Request(cursor=(cursor, seq), future=future))
        await future

    async def put_state(self, key: str, value: bytes | None) -> None:
        """Set (or delete, with None) one key of the log's key/value state."""
        await self.append((), state={key: value})

    async def maintain(self) -> None:
        """Run retention (age pruning, the size cap) now instead of at its next tick."""
        future = self._future()
        self._put(Request(maintain=True, future=future))
        await future

    def _put(self, request: Request) -> None:
        if self._closed:
            raise LogClosedError(f"{self.path}: the durable log is closed")
        self._writer.put(request)

    # --- cursors, state, listeners ------------------------------------------------------

    def cursor(self, name: str) -> int:
        return self._writer.cursors[name]

    def pending(self, cursor: str) -> int:
        """Entries committed but not yet past `cursor`."""
        return max(0, self.last_seq - self._writer.cursors[cursor])

    def state(self, prefix: str = "") -> dict[str, bytes]:
        """The key/value state whose keys start with `prefix` (read at start-up)."""
        conn = connect(self.path)
        try:
            return state.read(conn, prefix)
        except sqlite3.Error as exc:
            raise log_error(exc, self.path, f"reading state {prefix!r}") from exc
        finally:
            conn.close()

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
        if self._tail is not None and asyncio.get_running_loop() is self._loop:
            cached = self._tail.read(after, limit)
            if cached is not None:
                return cached
        return await self._reader.read(after, limit)

    def read_now(self, after: int, limit: int) -> list[Stored]:
        """`read` for synchronous tools (reads SQLite in the calling thread)."""
        return self._reader.read_now(after, limit)

    async def newest_reading_time(self, subject: str, *, after: float, upto: int) -> float | None:
        """The newest sensor time of `subject`'s readings with seq <= `upto`, if after `after`."""
        return await self._reader.newest_reading_time(subject, after, upto)

    # --- lifecycle ---------------------------------------------------------------------

    async def close(self) -> None:
        """Commit everything queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        await self._writer.stop()
        await asyncio.get_running_loop().run_in_executor(None, self._reader.close)

    def close_sync(self) -> None:
        """`close` for synchronous callers (tools, benchmarks)."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop_sync()
        self._reader.close()

    # --- the writer's outcome, back in the event loop --------------------------------

    def _delivered_seq(self) -> int:
        """The highest seq every cursor has passed (writer thread)."""
        positions = self._writer.cursors
        if not self.cursor_names:
            return self._writer.next_seq - 1
        return min(positions.get(name, 0) for name in self.cursor_names)

    def _future(self) -> asyncio.Future[list[int | None]]:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        return loop.create_future()

    def _deliver(self, last_seq: int, stored: list[Stored], requests: list[Request]) -> None:
        """Writer thread, once per commit: one hand-off per event loop involved."""
        loop = self._loop
        elsewhere: dict[asyncio.AbstractEventLoop, list[Request]] = {}
        for request in requests:
            if request.future is not None and request.future.get_loop() is not loop:
                elsewhere.setdefault(request.future.get_loop(), []).append(request)
        for other, some in elsewhere.items():
            with contextlib.suppress(RuntimeError):  # that loop is gone
                other.call_soon_threadsafe(_settle_all, some)
        if loop is None or loop.is_closed():
            # No event loop (synchronous tools) or it is gone: nobody awaits a future now.
            self.last_seq = last_seq
            _settle_all(requests, futures=False)
            return
        try:
            loop.call_soon_threadsafe(self._committed, last_seq, stored, requests)
        except RuntimeError:  # the loop closed while we were committing
            self.last_seq = last_seq

    def _committed(self, last_seq: int, stored: list[Stored], requests: list[Request]) -> None:
        self.last_seq = max(self.last_seq, last_seq)
        if self._tail is not None:
            self._tail.extend(last_seq, stored)
        loop = self._loop
        _settle_all(r for r in requests if r.future is None or r.future.get_loop() is loop)
        if stored:
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # one listener's bug must not stop the others
                    log.exception("log listener failed")
        if self._commit_waiter is not None and not self._commit_waiter.done():
            self._commit_waiter.set_result(None)


def _settle_all(requests: Iterable[Request], *, futures: bool = True) -> None:
    for request in requests:
        future = request.future
        if futures and future is not None and not future.done():
            if request.error is not None:
                future.set_exception(request.error)
            else:
                future.set_result(request.seqs)
        if request.on_commit is not None:
            try:
                request.on_commit(None if request.error is not None else request.seqs)
            except Exception:  # a producer's callback must not stop the others
                log.exception("on_commit callback failed")


def _checked(changes: Mapping[str, bytes | None] | None) -> Mapping[str, bytes | None] | None:
    if changes:
        state.check_keys(changes)
    return changes
