"""Notifications as central runs them: the config holder, the sender, SIGHUP reloads.

`Notify.run()` is one task of central's lifespan TaskGroup (started once the schema is
migrated): it runs the sender and the Alertmanager refresher (central/notify/refresh.py) and
waits for SIGHUP, on which it reloads the file and writes an audit entry
(`notifications.reload`, with the outcome) either way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from central.notify import refresh
from central.notify.reload import NotifyHolder, Reloaded
from central.notify.sender import NotifyMetrics, Sender
from central.storage import SqlStorage, StorageError

log = logging.getLogger("tracseq.central.notify")


class Notify:
    def __init__(
        self,
        storage: SqlStorage,
        path: Path | None,
        registry: CollectorRegistry,
        clock: Callable[[], float],
        *,
        poll: float = 0.25,
        refresh_every: float = refresh.INTERVAL,
    ) -> None:
        self.holder = NotifyHolder.load(path)  # ConfigError: the caller exits 2
        self.metrics = NotifyMetrics(registry)
        self.sender = Sender(storage, self.holder, self.metrics, clock, poll=poll)
        self.refresher = refresh.Refresher(storage, self.holder, clock, interval=refresh_every)
        self._storage = storage
        self._hup = asyncio.Event()
        self.running = False

    def catch_sighup(self) -> Callable[[], None]:
        """Catch SIGHUP for the whole lifespan (from before the database is reachable, so an
        early SIGHUP is a reload once the sender runs, never the default: terminate).
        Returns the function that lets go of it."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._hup.set)  # main thread only
        except (NotImplementedError, RuntimeError, ValueError):
            return lambda: None

        def release() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return release

    async def run(self) -> None:
        self.running = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.sender.run())
                group.create_task(self.refresher.run())
                group.create_task(self._reloads())
        finally:
            self.running = False

    async def _reloads(self) -> None:
        while True:
            await self._hup.wait()
            self._hup.clear()
            await self.reload("system:sighup")

    async def reload(self, actor: str) -> Reloaded:
        """Reload the file (keeping the running config if it is invalid), audited."""
        if self.holder.path is None:
            log.info("SIGHUP: no --notifications file to reload")
            return Reloaded(True, 0)
        result = await asyncio.to_thread(self.holder.reload)
        new: dict[str, object] = {"ok": result.ok, "policies": result.policies}
        if result.error is not None:
            new["error"] = result.error
        try:
            await self._storage.audit(
                actor, "notifications.reload", str(self.holder.path or ""), None, new
            )
        except StorageError as exc:  # the reload stands; only its record failed
            log.warning("cannot audit the notifications reload: %s", exc)
        return result
