"""Blocking database drivers on dedicated threads: one thread owns one connection.

Callers `await pool.call(fn)`; `fn(conn)` runs on a worker thread, in order, and its
result (or exception) comes back to the event loop. A driver's exception is first
translated by the backend's `translate` into central's StorageError tree
(central/storage/errors.py), so nothing above storage sees sqlite3 or psycopg errors. A
connection that broke (database restarted) is dropped and reopened on the next call, so a
database that is down at start or restarts later is retried instead of ending the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

C = TypeVar("C")
T = TypeVar("T")

_Job = tuple[Callable[[Any], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]
# A backend's translation of a failed job's exception (and the connection, None when the
# connect itself failed) into central's StorageError tree; other exceptions come back as is.
Translate = Callable[[BaseException, Any], BaseException]


class Worker(Generic[C]):
    """A thread owning one lazily opened connection, running submitted jobs in order."""

    def __init__(
        self,
        name: str,
        connect: Callable[[], C],
        close: Callable[[C], None],
        broken: Callable[[C], bool],
        translate: Translate,
    ) -> None:
        self._connect = connect
        self._close = close
        self._broken = broken
        self._translate = translate
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[C], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop))
        return await future

    async def stop(self) -> None:
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        conn: C | None = None
        while (job := self._jobs.get()) is not None:
            fn, future, loop = job
            try:
                if conn is None:
                    conn = self._connect()
                result: Any = fn(conn)
            except BaseException as exc:  # noqa: BLE001 -- translated, handed to the awaiting caller
                error = self._translate(exc, conn)
                if conn is not None and self._broken(conn):
                    with contextlib.suppress(Exception):
                        self._close(conn)
                    conn = None
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                self._close(conn)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class Pool(Generic[C]):
    """A fixed set of workers; a call takes whichever worker is idle."""

    def __init__(self, workers: list[Worker[C]]) -> None:
        self._workers = workers
        self._idle: asyncio.Queue[Worker[C]] = asyncio.Queue()
        for worker in workers:
            self._idle.put_nowait(worker)

    async def call(self, fn: Callable[[C], T]) -> T:
        worker = await self._idle.get()
        try:
            return await worker.call(fn)
        finally:
            self._idle.put_nowait(worker)

    async def stop(self) -> None:
        for worker in self._workers:
            await worker.stop()
