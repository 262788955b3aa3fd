"""The uploader: follows the durable log's `sync` cursor and ships it to central.

Batches hold up to `sync.batch_max` events, or what arrived within `sync.interval` of the
first one, whichever comes first; it wakes on commits (no polling). After an outage the
backlog goes out as full batches back to back, a few in flight at once. The cursor moves
only over batches central answered 200 for (or whose bad events are quarantined), and
only as far as everything before is acknowledged: at-least-once, and central de-duplicates
on the event id.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from edge.entry import Stored
from edge.log import DurableLog
from edge.metrics import LOG_PENDING
from edgeconfig import Config, Sync
from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.health import Health
from sync import metrics
from sync.batches import Batch, encode
from sync.delivery import Delivery, SyncState
from sync.http import CentralClient
from sync.quarantine import Quarantine
from sync.window import AckWindow, Slot

log = logging.getLogger("tracseq.sync")

CURSOR = "sync"
LAST_OK_KEY = "sync:last_ok"  # log state: epoch seconds (ASCII) of central's last 200
IN_FLIGHT = 3  # batches POSTed concurrently while catching up
_IDLE_WAIT = 60.0  # seconds per wait for a commit when there is nothing to send


class Uploader:
    """The `sync` component: at-least-once upload of the durable log to central."""

    name = "sync"

    def __init__(
        self,
        config: Config,
        log: DurableLog,
        clock: Clock,
        *,
        in_flight: int = IN_FLIGHT,
        backoff: Backoff | None = None,
        slow_backoff: Backoff | None = None,
    ) -> None:
        if config.sync is None:
            raise ValueError("the uploader needs a `sync:` section in the config")
        self._sync: Sync = config.sync
        self._gateway = config.gateway.id
        self._log = log
        self._clock = clock
        self._in_flight = max(1, in_flight)
        self._backoff = backoff or Backoff(base=0.5, cap=30.0)
        self._slow_backoff = slow_backoff or Backoff(base=5.0, cap=300.0)
        self._window = AckWindow()
        self._forming: float | None = None  # receive time of a batch being gathered
        self.state = SyncState()
        LOG_PENDING.labels(cursor=CURSOR).set_function(lambda: self._log.pending(CURSOR))
        metrics.LAG.set_function(self.lag)

    def lag(self) -> float:
        """Seconds the oldest event not yet at central has waited (0 when caught up)."""
        oldest = self._window.oldest_received()
        if oldest is None:
            oldest = self._forming
        if oldest is None:
            return 0.0
        return max(0.0, self._clock.time() - oldest)

    def health(self) -> Health:
        health = self.state.health
        counters = {
            "pending": self._log.pending(CURSOR),
            "in_flight": len(self._window),
            "sent": self.state.sent,
            "quarantined": self.state.quarantined,
        }
        return Health(health.state, health.detail, counters)

    async def run(self) -> None:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-worker")
        quarantine = Quarantine(self._log.path)
        loop = asyncio.get_running_loop()
        try:
            self.state.quarantined = await loop.run_in_executor(worker, quarantine.count)
            async with CentralClient(self._sync, connections=self._in_flight) as client:
                delivery = Delivery(
                    client,
                    quarantine,
                    worker,
                    self._clock,
                    self.state,
                    backoff=self._backoff,
                    slow_backoff=self._slow_backoff,
                )
                async with asyncio.TaskGroup() as group:
                    await self._pump(group, delivery, worker)
        except ExceptionGroup as failed:
            # One failing batch task is the failure the supervisor should name.
            raise failed.exceptions[0] from failed
        finally:
            self._window.clear()
            self._forming = None
            self.state.health = Health("stopped")
            await loop.run_in_executor(worker, quarantine.close)
            worker.shutdown(wait=False)

    async def _pump(
        self, group: asyncio.TaskGroup, delivery: Delivery, worker: ThreadPoolExecutor
    ) -> None:
        """Read, encode and hand batches to delivery tasks, at most `in_flight` at once."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self._in_flight)
        after = self._log.cursor(CURSOR)
        while True:
            stored = await self._gather(after)
            batch = await loop.run_in_executor(worker, encode, stored, self._gateway)
            await slots.acquire()
            slot = self._window.open(batch.last, batch.received)
            self._forming = None
            group.create_task(self._deliver(delivery, batch, slot, slots))
            after = batch.last

    async def _gather(self, after: int) -> list[Stored]:
        """The next batch after `after`: full, or whatever came within `interval`."""
        limit = self._sync.batch_max
        stored = await self._log.read(after, limit)
        while not stored:
            # Entries up to last_seq may be gone (dropped by the size cap): wait past them.
            await self._log.wait_beyond(max(after, self._log.last_seq), _IDLE_WAIT)
            stored = await self._log.read(after, limit)
        self._forming = stored[0].received
        deadline = self._clock.monotonic() + self._sync.interval
        while len(stored) < limit:
            left = deadline - self._clock.monotonic()
            if left <= 0 or not await self._log.wait_beyond(stored[-1].seq, left):
                break
            stored += await self._log.read(stored[-1].seq, limit - len(stored))
        return stored

    async def _deliver(
        self, delivery: Delivery, batch: Batch, slot: Slot, slots: asyncio.Semaphore
    ) -> None:
        try:
            await delivery.deliver(batch)
        finally:
            slots.release()
        position = self._window.close(slot)
        if position is not None:
            last_ok = self.state.last_ok
            if last_ok is not None:
                # Queued just before the cursor moves, so both land in the same group commit.
                self._log.submit((), state={LAST_OK_KEY: repr(last_ok).encode()})
            await self._log.advance(CURSOR, position)
