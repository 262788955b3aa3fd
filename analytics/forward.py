"""Analytics events to central: `POST /api/v1/ingest` with this instance's own token.

Central lets a token write only events of its own `source`, so each instance forwards only
its own events (`tracseq-analytics/<instance>`): it reads the output stream through its own
consumer group `<group>:ingest:<instance>`, posts its events in batches, and XACKs the batch
(including other instances' entries, which it skips) only after central answered 200.
Network errors, 5xx and 429 are retried with backoff (honouring Retry-After); a 400 (which
should not happen) moves the batch to `<output>:rejects`, so one bad event cannot block the
rest. A dead instance's unforwarded events wait for it in its group.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from analytics.consumer import entries_of, still_running
from analytics.metrics import Metrics
from analytics.settings import Settings
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock, SystemClock
from runtime.errors import EnvelopeError
from runtime.events import ANALYTICS_SOURCE_PREFIX, BATCH_MEDIA_TYPE, parse_stream_fields

log = logging.getLogger(__name__)

BATCH = 500


class Forwarder:
    """Forwards this instance's analytics events to central until cancelled."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        token: str,
        *,
        metrics: Metrics,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.url = url.rstrip("/") + "/api/v1/ingest"
        self.token = token
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.group = f"{settings.group}:ingest:{settings.instance}"
        self.source = ANALYTICS_SOURCE_PREFIX + settings.instance
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=5,
            socket_timeout=settings.block_ms / 1000 + 10,
        )
        self._client = httpx.AsyncClient(timeout=10.0, transport=transport)
        self._ready = False
        self._own_pending_done = False
        self.state = "starting"

    async def run(self) -> None:
        backoff = Backoff(base=0.2, cap=30.0)
        retry = RetryLog(log, f"forwarding to {self.url}")
        try:
            while True:
                still_running()
                try:
                    delay = await self.step()
                except (RedisError, OSError, httpx.HTTPError) as exc:
                    if isinstance(exc, ResponseError):
                        self._ready = False
                    self.state = f"retrying: {type(exc).__name__}: {exc}"
                    self.metrics.errors.labels("forward").inc()
                    retry.failed(exc)
                    await self.clock.sleep(backoff.next_delay())
                    continue
                if delay is None:
                    retry.succeeded()
                    backoff.reset()
                    self.state = "up"
                else:
                    self.metrics.errors.labels("forward").inc()
                    await self.clock.sleep(backoff.next_delay(delay))
        finally:
            await self._client.aclose()
            await self.redis.aclose()

    async def step(self) -> float | None:
        """Forward one batch; returns a delay when central asked to wait, else None."""
        s = self.settings
        if not self._ready:
            try:
                await self.redis.xgroup_create(s.output, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._ready, self._own_pending_done = True, False
        start = "0" if not self._own_pending_done else ">"
        reply = await self.redis.xreadgroup(
            self.group, s.instance, {s.output: start}, count=BATCH,
            block=None if start == "0" else s.block_ms,
        )  # fmt: skip
        entries = entries_of(reply)
        if not entries:
            self._own_pending_done = True
            return None
        batch: list[dict[str, Any]] = []
        for _id, fields in entries:
            try:
                event = parse_stream_fields(fields or {})
            except EnvelopeError:
                continue  # not ours to judge: the processor wrote only valid events
            if event.source == self.source:
                batch.append(event.to_dict())
        if batch:
            delay = await self._post(batch)
            if delay is not None:
                return delay
        await self.redis.xack(s.output, self.group, *[entry for entry, _ in entries])
        return None

    async def _post(self, batch: list[dict[str, Any]]) -> float | None:
        response = await self._client.post(
            self.url,
            content=orjson.dumps(batch),
            headers={"Content-Type": BATCH_MEDIA_TYPE, "Authorization": f"Bearer {self.token}"},
        )
        if response.status_code == 200:
            self.metrics.forwarded.inc(len(batch))
            return None
        if response.status_code == 400:
            log.error("central refused %d analytics events: %s", len(batch), response.text[:2000])
            await self.redis.xadd(
                self.settings.output + ":rejects",
                {"reason": f"central 400: {response.text[:2000]}", "events": orjson.dumps(batch)},
            )
            return None
        retry_after = response.headers.get("retry-after", "")
        self.state = f"central answered {response.status_code}"
        if response.status_code in (401, 403):
            log.error("central refused the analytics token (%d): %s", response.status_code,
                      response.text[:500])  # fmt: skip
        return float(retry_after) if retry_after.isdigit() else 1.0
