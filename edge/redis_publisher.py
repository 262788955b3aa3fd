"""The Redis publisher: follows the log's `redis` cursor and appends every event to the stream.

Each batch of committed entries goes to Redis in **one Lua script call** that checks a
per-gateway marker key (`<stream>:published:<gateway>`, the last seq on the stream), XADDs
the events in seq order with `MAXLEN ~` and sets the marker to the batch's last seq, all
atomically. Only after Redis confirmed the script does the `redis` cursor move. So:

- a batch is either wholly on the stream or not at all; a reply lost with the connection
  is resolved by reading the marker, so nothing is sent twice and nothing is skipped;
- a marker that is missing (Redis restarted without persistence, the stream deleted)
  or behind the cursor (Redis restored from an older snapshot) is noticed on the very
  next batch, and the retained events are re-published in seq order (docs/events.md);
- one round trip carries up to `_SCRIPT_EVENTS` events: over twice the rate of pipelined
  XADDs from redis-py (docs/benchmarks.md), and the next batch is read and encoded while
  Redis runs the script.

Redis down: the log keeps filling; the publisher reconnects with the one backoff helper,
logs the first failure and the recovery, then publishes the backlog in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aredis
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from edge.entry import Stored
from edge.errors import DeliveryError
from edge.log import DurableLog
from edge.metrics import LOG_PENDING
from edgeconfig import Config
from runtime import tracing
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock
from runtime.health import Health, State

log = logging.getLogger("tracseq.edge.redis")

CURSOR = "redis"
IDLE_CHECK_S = 5.0  # idle: PING this often so health notices a dead Redis
_SCRIPT_EVENTS = 1000  # events per script call: keeps Redis busy < ~5 ms per call
_SOCKET_TIMEOUT_S = 10.0
_STOP_WAIT_S = 2.0
_MAX_MISMATCHES = 3  # marker changed this often in a row: someone else writes it

PUBLISHED = Counter("tracseq_edge_redis_published_total", "Events appended to the Redis stream")
CONNECTED = Gauge("tracseq_edge_redis_connected", "1 while the Redis publisher is connected")
REPUBLISHED = Counter(
    "tracseq_edge_redis_republished_total",
    "Events sent again because the stream had lost them (Redis restarted without persistence)",
)

# KEYS: stream, marker. ARGV: expected marker ('' = none), maxlen, last seq, JSON batch
# (an array of flat [field, value, ...] arrays). Returns {1, last} or {0, current marker}.
_LUA = """
local current = redis.call('GET', KEYS[2])
if current and redis.call('EXISTS', KEYS[1]) == 0 then
  current = false
end
if (current or '') ~= ARGV[1] then
  return {0, current or ''}
end
local batch = cjson.decode(ARGV[4])
for i = 1, #batch do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(batch[i]))
end
redis.call('SET', KEYS[2], ARGV[3])
return {1, ARGV[3]}
"""


@dataclass(slots=True)
class _Batch:
    entries: Sequence[Stored]
    payload: bytes  # JSON array of flat [field, value, ...] arrays, one per entry
    last: int


def marker_key(stream: str, gateway_id: str) -> str:
    """The key holding the last seq this gateway appended to `stream`."""
    return f"{stream}:published:{gateway_id}"


class RedisPublisher:
    """Publishes committed log entries to the Redis stream (a supervised Component)."""

    name = "redis"

    def __init__(self, config: Config, log: DurableLog, clock: Clock) -> None:
        if config.redis is None:
            raise ValueError("RedisPublisher needs a `redis:` section in the config")
        self._settings = config.redis
        self._gateway = config.gateway.id
        self._log = log
        self._clock = clock
        self._stream = config.redis.stream
        self._marker = marker_key(config.redis.stream, config.gateway.id)
        # The seq we continue after, and the marker we believe Redis holds (None: unknown
        # until we have read it; "" : no marker yet).
        self._position = log.cursor(CURSOR)
        self._expected: str | None = None
        self._state: State = "starting"
        self._detail = f"connecting to {_redacted(config.redis.url)}"
        self._mismatches = 0
        self._advancing: asyncio.Future[None] | None = None
        self.published = 0
        self.republished = 0
        # Read at scrape time, so the figure grows while Redis is down, too.
        LOG_PENDING.labels(cursor=CURSOR).set_function(lambda: log.pending(CURSOR))

    # --- Component ---------------------------------------------------------------------

    async def run(self) -> None:
        backoff = Backoff(base=0.2, cap=30.0)
        retry = RetryLog(log, f"Redis publishing to {_redacted(self._settings.url)}")
        while True:
            _raise_if_cancelled()
            client = self._client()
            try:
                self._expected = None
                await self._publish_forever(client, backoff, retry)
            except (RedisError, OSError, DeliveryError) as exc:
                self._set_state("disconnected", f"{type(exc).__name__}: {exc}")
                retry.failed(exc)
                await self._clock.sleep(backoff.next_delay())
            finally:
                await self._stop_advancing()
                await client.aclose()

    def health(self) -> Health:
        return Health(
            self._state,
            self._detail,
            {
                "published": self.published,
                "republished": self.republished,
                "pending": self._log.pending(CURSOR),
            },
        )

    # --- publishing --------------------------------------------------------------------

    def _client(self) -> aredis.Redis:
        return aredis.Redis.from_url(
            self._settings.url,
            retry=Retry(NoBackoff(), 0),  # our Backoff decides; no hidden retries
            socket_timeout=_SOCKET_TIMEOUT_S,
            socket_connect_timeout=_SOCKET_TIMEOUT_S,
        )

    async def _publish_forever(
        self, client: aredis.Redis, backoff: Backoff, retry: RetryLog
    ) -> None:
        script = client.register_script(_LUA)
        self._reconcile(_marker_value(await client.get(self._marker)))
        await self._catch_up_cursor()
        self._set_state("connected", f"stream {self._stream}")
        retry.succeeded()
        backoff.reset()
        # Two steps overlap: while Redis runs one batch's script, the next batch is read
        # from the log and encoded (a batch is at most _SCRIPT_EVENTS events).
        size = min(self._settings.batch_max, _SCRIPT_EVENTS)
        prepared = await self._prepare(size)
        while True:
            _raise_if_cancelled()
            if prepared is None:
                if not await self._log.wait_beyond(self._position, IDLE_CHECK_S):
                    await client.ping()
                prepared = await self._prepare(size)
                continue
            sending = asyncio.ensure_future(self._send(script, prepared))
            try:
                upcoming = await self._prepare(size, after=prepared.last)
            except BaseException:
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sending
                raise
            if await sending:
                prepared = upcoming
            else:  # Redis held another marker: continue from where it really is
                prepared = await self._prepare(size)

    async def _prepare(self, size: int, after: int | None = None) -> _Batch | None:
        """The next batch after `after` (default: the position), read and encoded."""
        entries = await self._log.read(self._position if after is None else after, size)
        if not entries:
            return None
        with tracing.batch_span(
            "edge.redis.xadd", [e.trace for e in entries if e.trace], kind=SpanKind.PRODUCER
        ) as span:
            # Consumers continue the trace from this span (the entry's `traceparent`).
            traceparent = tracing.traceparent_of(span)
            payload = orjson.dumps([self._fields(entry, traceparent) for entry in entries])
        return _Batch(entries, payload, entries[-1].seq)

    async def _send(self, script: AsyncScript, batch: _Batch) -> bool:
        """Append one batch atomically; advance the cursor once Redis confirmed it.

        False when Redis holds another marker than expected (the position is reset)."""
        done, current = await script(
            keys=[self._stream, self._marker],
            args=[self._expected or "", self._settings.maxlen, batch.last, batch.payload],
        )
        if not done:
            self._mismatches += 1
            if self._mismatches > _MAX_MISMATCHES:
                self._expected = None
                raise DeliveryError(
                    f"the marker {self._marker} keeps changing under us: is another "
                    f"gateway publishing with the id {self._gateway!r}?"
                )
            self._reconcile(_marker_value(current))
            await self._catch_up_cursor()
            return False
        self._mismatches = 0
        self._expected = str(batch.last)
        cursor = self._log.cursor(CURSOR)
        replayed = sum(1 for e in batch.entries if e.seq <= cursor)
        self._position = batch.last
        self.published += len(batch.entries)
        PUBLISHED.inc(len(batch.entries))
        if replayed:
            self.republished += replayed
            REPUBLISHED.inc(replayed)
        self._advance_soon()
        return True

    def _advance_soon(self) -> None:
        """Commit the cursor in the background, at most one commit in flight, so the next
        batch does not wait for the log's fsync (the cursor only trails the stream)."""
        running = self._advancing
        if running is not None and not running.done():
            return  # it re-checks the position when its commit is done
        if running is not None and not running.cancelled():
            running.result()  # re-raise a failed cursor commit
        self._advancing = asyncio.ensure_future(self._advance_loop())

    async def _advance_loop(self) -> None:
        while self._position > self._log.cursor(CURSOR):
            await self._log.advance(CURSOR, self._position)

    async def _stop_advancing(self) -> None:
        # The cursor op is already queued in the log; waiting for it keeps `pending` exact
        # (bounded: a log closed under us never answers).
        if self._advancing is not None:
            running, self._advancing = self._advancing, None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_STOP_WAIT_S):
                    await asyncio.shield(running)

    async def _catch_up_cursor(self) -> None:
        if self._position > self._log.cursor(CURSOR):
            await self._log.advance(CURSOR, self._position)

    def _fields(self, entry: Stored, traceparent: str | None) -> list[str]:
        fields = entry.to_event(self._gateway).to_stream_fields()
        if traceparent is not None and entry.trace is not None:
            # The entry that carries its intake batch's trace points consumers at this
            # XADD span (one per intake batch, not per reading: spans are per batch).
            fields["traceparent"] = traceparent
        return [item for pair in fields.items() for item in pair]

    def _reconcile(self, marker: int | None) -> None:
        """Continue from what Redis actually holds (`marker`: the last seq on the stream)."""
        cursor = self._log.cursor(CURSOR)
        if marker is None:
            self._expected = ""
            if cursor == 0:
                self._position = 0
                return
            # The stream lost what we had sent: re-publish what the log still holds, at most
            # as much as the stream keeps (maxlen), in seq order.
            self._position = max(0, cursor - self._settings.maxlen)
            log.warning(
                "Redis stream %s has lost the events this gateway sent up to seq %d "
                "(Redis restarted without persistence, or the stream was deleted): "
                "re-publishing the retained events after seq %d",
                self._stream,
                cursor,
                self._position,
            )
            return
        self._expected = str(marker)
        if marker > self._log.last_seq:
            log.error(
                "Redis marker %s says seq %d was published, but this gateway's log ends at "
                "seq %d: is another gateway using the id %r, or was the data dir replaced? "
                "Publishing from seq %d",
                self._marker,
                marker,
                self._log.last_seq,
                self._gateway,
                cursor + 1,
            )
            self._position = cursor
        elif marker >= cursor:
            # Redis confirmed a batch whose cursor move never reached the disk: skip it.
            self._position = marker
        else:
            log.warning(
                "Redis stream %s ends at seq %d, behind the published position %d "
                "(restored from an older snapshot?): re-publishing from seq %d",
                self._stream,
                marker,
                cursor,
                marker + 1,
            )
            self._position = marker

    def _set_state(self, state: State, detail: str) -> None:
        if state != self._state and state == "connected":
            log.info("publishing to Redis stream %s from seq %d", self._stream, self._position)
        self._state = state
        self._detail = detail
        CONNECTED.set(1 if state == "connected" else 0)


def _raise_if_cancelled() -> None:
    """Honour a cancellation redis-py swallowed: it sends through asyncio.wait_for, which on
    Python 3.11 drops a cancellation arriving just as the send completes (CPython
    gh-86296); the task still reports it in `cancelling()`, so stop here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _marker_value(raw: Any) -> int | None:
    if raw is None or raw == b"" or raw == "":
        return None
    return int(raw)


def _redacted(url: str) -> str:
    """The URL without a password, for logs and health."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"
