"""Getting one batch into central, whatever it takes, without ever dropping an event.

- 200: stored. Network errors, 5xx and 429: the same batch again after a backoff (capped
  exponential, full jitter, at least the server's Retry-After).
- 401/403, no token, a 400 that names no event (the request as a whole is refused: "body
  is not JSON"), or another unexpected status: logged loudly and retried slowly; the data
  waits in the log until the operator fixes the token, URL or whatever is in between.
- 400 naming bad events by index, or 413 (too large): never resent as is; the batch is
  split in halves, each half sent on its own, until the bad events are alone. A single
  event central still rejects is quarantined (kept with central's reason and counted) and
  the rest flows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from opentelemetry.trace import SpanKind

from runtime import tracing
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock
from runtime.health import Health
from sync import metrics
from sync.batches import Batch
from sync.http import Answer, CentralClient
from sync.quarantine import Quarantine

log = logging.getLogger("tracseq.sync")
_T = TypeVar("_T")

LOUD_EVERY = 60.0  # seconds between repeated error lines while central refuses us


@dataclass(slots=True)
class SyncState:
    """What the uploader reports in health() (and, through the log, in `status`)."""

    health: Health = field(default_factory=lambda: Health("starting"))
    sent: int = 0
    quarantined: int = 0
    last_ok: float | None = None


class Delivery:
    """Delivers batches through `client`; shared by every batch in flight."""

    def __init__(
        self,
        client: CentralClient,
        quarantine: Quarantine,
        worker: Executor,
        clock: Clock,
        state: SyncState,
        *,
        backoff: Backoff,
        slow_backoff: Backoff,
    ) -> None:
        self._client = client
        self._quarantine = quarantine
        self._worker = worker
        self._clock = clock
        self._state = state
        # Shared by all batches in flight: one outage is one run of failures.
        self._backoff = backoff
        self._slow_backoff = slow_backoff
        self._retry_log = RetryLog(log, f"sync to {client.url}")
        self._last_loud = -LOUD_EVERY

    async def deliver(self, batch: Batch) -> None:
        """Return once every event of `batch` is stored at central or quarantined."""
        for broken in batch.broken:
            await self._keep(broken.seq, broken.entry, broken.reason, None)
        parts = [batch] if batch.seqs else []
        while parts:
            part = parts.pop()
            answer = await self._send(part)
            if answer.kind == "ok":
                continue
            if len(part) == 1:
                await self._put_in_quarantine(part, answer)
                continue
            if part is batch:
                log.info(
                    "central answered %s for %d events (seq %d-%d): splitting the batch to "
                    "isolate the bad ones (%s)",
                    answer.status,
                    len(part),
                    part.first,
                    part.last,
                    answer.detail[:200],
                )
            left, right = await self._run(part.split)
            parts += (right, left)

    async def _send(self, part: Batch) -> Answer:
        """POST until central gives a definite answer about these events."""
        while True:
            with tracing.batch_span(
                "sync.post", (e.get("traceparent") for e in part.events), kind=SpanKind.CLIENT
            ) as span:
                answer = await self._client.post(part.body, tracing.traceparent_of(span))
            metrics.BATCHES.labels(result=answer.kind).inc()
            if answer.kind == "ok":
                self._stored(part, answer)
                return answer
            if answer.kind in ("rejected", "too_large"):
                self._state.health = Health("connected", "central reachable")
                return answer
            if answer.kind == "retry":
                self._retry_log.failed(answer.detail)
                self._state.health = Health("disconnected", f"central: {answer.detail}")
                delay = self._backoff.next_delay(answer.retry_after or 0.0)
            else:
                delay = self._slow_backoff.next_delay(answer.retry_after or 0.0)
                self._refused(answer, delay)
            await self._clock.sleep(delay)

    def _stored(self, part: Batch, answer: Answer) -> None:
        self._retry_log.succeeded()
        self._backoff.reset()
        self._slow_backoff.reset()
        now = self._clock.time()
        self._state.health = Health("connected", self._client.url)
        self._state.sent += len(part)
        self._state.last_ok = now
        metrics.LAST_SUCCESS.set(now)
        metrics.EVENTS.labels(result="accepted").inc(answer.accepted)
        metrics.EVENTS.labels(result="duplicate").inc(answer.duplicates)

    def _refused(self, answer: Answer, delay: float) -> None:
        self._state.health = Health("degraded", f"central refused us: {answer.detail}")
        now = self._clock.monotonic()
        if now - self._last_loud >= LOUD_EVERY:
            self._last_loud = now
            if answer.kind == "auth":
                what = "the sync token"
            elif answer.status in (400, 422):
                what = (
                    "central's log (it rejects the request as a whole, naming no event: "
                    "a proxy in between, or a central that does not speak this ingest?)"
                )
            else:
                what = "sync.url"
            log.error(
                "CENTRAL REFUSES THIS GATEWAY (%s) at %s: check %s; events are kept and "
                "retried (next in %.0fs)",
                answer.detail,
                self._client.url,
                what,
                delay,
            )

    async def _put_in_quarantine(self, part: Batch, answer: Answer) -> None:
        reason = answer.detail or f"HTTP {answer.status}"
        await self._keep(part.first, part.event_json(0), reason, part.events[0].get("id"))

    async def _keep(self, seq: int, event: bytes, reason: str, event_id: object) -> None:
        await self._run(lambda: self._quarantine.put(seq, event, reason, self._clock.time()))
        self._state.quarantined += 1
        metrics.QUARANTINED.inc()
        log.warning("quarantined event %s (seq %d): %s", event_id or "-", seq, reason)

    async def _run(self, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, call)
