"""The consumer-group loop: read, judge, commit atomically, and share the work.

Over 400 lines on purpose: reading, claiming idle entries and the atomic commit share one
consumer's Redis connection and state.

On start (and after Redis comes back) the group is created if missing (`MKSTREAM`, from the
stream's beginning), then this consumer's own pending entries (`0`) are re-processed before
new ones (`>`). Every `claim_idle / 2` seconds entries idle longer than `claim_idle` on any
consumer (a killed instance) are taken over with XAUTOCLAIM. Effects and XACK are one atomic
commit (state.py); an event whose id was already applied (redelivery, republish, or two
instances racing on a claimed entry) has no second effect. Redis down: retry with backoff and
jitter, report it on /healthz, never exit.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analytics import applied
from analytics.judge import Judge, Rejected, SensorState
from analytics.metrics import Metrics
from analytics.settings import Settings
from analytics.state import Commit, Store
from runtime import tracing
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock, SystemClock
from runtime.errors import EnvelopeError
from runtime.events import READING, SENSOR_DESCRIBED, CloudEvent, parse_stream_fields

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
LAG_EVERY = 5.0
_JUDGED = (READING, SENSOR_DESCRIBED)


@dataclass(slots=True)
class _Item:
    entry: str
    event: CloudEvent
    gateway: str
    seq: int


@dataclass(slots=True)
class _Plan:
    """A judged batch: the commit, and what to remember locally once it succeeded."""

    commit: Commit
    touched: dict[str, SensorState] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    stream_time: dict[str, float] = field(default_factory=dict)
    stale_mark: dict[str, float] = field(default_factory=dict)
    new_members: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class Status:
    """What /healthz says."""

    redis: str = "connecting"
    error: str | None = None
    processed: int = 0
    pending_replayed: bool = False
    since: float = field(default_factory=_time.time)


class Processor:
    """One analytics instance: a consumer named `settings.instance` in `settings.group`."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics(settings.max_sensor_gauges)
        # A read timeout beyond the XREADGROUP BLOCK time: no read can hang forever.
        self.redis = redis or Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=5,
            socket_timeout=settings.block_ms / 1000 + 10,
            health_check_interval=30,
        )
        self.store = Store(
            self.redis, settings.key_prefix, settings.stream, settings.group,
            settings.output, settings.output_maxlen,
        )  # fmt: skip
        self.judge = Judge(settings.instance, settings.judgement)
        self.status = Status()
        self._cache: dict[str, tuple[SensorState, int]] = {}
        self._applied: dict[str, list[list[int]]] = {}
        self._members: dict[str, set[str]] = {}
        self._stale_mark: dict[str, float] = {}
        self._stream_time: dict[str, float] = {}
        self._group_ready = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._next_lag = 0.0

    async def run(self) -> None:
        """Process until cancelled; Redis failures are retried, never fatal."""
        backoff = Backoff(base=0.2, cap=10.0)
        retry = RetryLog(log, f"redis {self.settings.redis_url}")
        try:
            while True:
                still_running()
                try:
                    await self.step()
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    self._down(exc, "redis")
                    retry.failed(exc)
                    await self.clock.sleep(backoff.next_delay())
                    continue
                except RedisError as exc:
                    self._group_ready = False  # NOGROUP after a Redis restart: create it again
                    self._down(exc, "redis_response")
                    retry.failed(exc)
                    await self.clock.sleep(backoff.next_delay())
                    continue
                except Exception as exc:  # a bug: entries stay pending, retried after a pause
                    log.exception("processing failed; the batch stays pending")
                    self.status.error = f"{type(exc).__name__}: {exc}"
                    self.metrics.errors.labels("internal").inc()
                    self.status.pending_replayed = False
                    await self.clock.sleep(backoff.next_delay())
                    continue
                if self.status.redis != "up":
                    retry.succeeded()
                    backoff.reset()
                    self.status.redis, self.status.error = "up", None
                    self.metrics.redis_up.set(1)
        finally:
            await self.redis.aclose()

    def _down(self, exc: BaseException, kind: str) -> None:
        self.status.redis, self.status.error = "down", f"{type(exc).__name__}: {exc}"
        self.metrics.redis_up.set(0)
        self.metrics.errors.labels(kind).inc()

    async def step(self) -> int:
        """One round: ensure the group, then process one batch. Returns entries handled."""
        if not self._group_ready:
            await self._ensure_group()
        now = self.clock.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + LAG_EVERY
            await self._measure_lag()
        s = self.settings
        if not self.status.pending_replayed:
            # our own pending entries, from before a crash: they come first
            reply = await self.redis.xreadgroup(s.group, s.instance, {s.stream: "0"}, count=s.batch)
            entries = entries_of(reply)
            if not entries:
                self.status.pending_replayed = True
                return 0
            return await self.process(entries)
        if now >= self._next_claim:
            handled = await self._claim()
            if handled:
                return handled
        reply = await self.redis.xreadgroup(
            s.group, s.instance, {s.stream: ">"}, count=s.batch, block=s.block_ms
        )
        return await self.process(entries_of(reply))

    async def _ensure_group(self) -> None:
        s = self.settings
        try:
            await self.redis.xgroup_create(s.stream, s.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s", s.group, s.stream)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True
        self.status.pending_replayed = False
        self._claim_cursor = "0-0"

    async def _claim(self) -> int:
        s = self.settings
        reply = await self.redis.xautoclaim(
            s.stream, s.group, s.instance, int(s.claim_idle * 1000),
            start_id=self._claim_cursor, count=s.batch,
        )  # fmt: skip
        cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor == "0-0":
            self._next_claim = self.clock.monotonic() + s.claim_idle / 2
        if deleted:  # trimmed from the stream before anyone processed them
            await self.redis.xack(s.stream, s.group, *deleted)
            self.metrics.errors.labels("trimmed").inc(len(deleted))
        if entries:
            self.metrics.claimed.inc(len(entries))
            log.info("claimed %d idle entries from other consumers", len(entries))
        return await self.process(entries) if entries else 0

    async def _measure_lag(self) -> None:
        for info in await self.redis.xinfo_groups(self.settings.stream):
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.settings.group:
                if info.get("lag") is not None:
                    self.metrics.lag.set(int(info["lag"]))
                self.metrics.pending.set(int(info.get("pending") or 0))

    async def process(self, entries: list[tuple[Any, Any]]) -> int:
        """Judge a batch of stream entries and commit the effects with their XACKs."""
        if not entries:
            return 0
        items: list[_Item] = []
        base = Commit()
        for raw_id, fields in entries:
            entry = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            base.ack.append(entry)
            if not fields:
                self.metrics.errors.labels("trimmed").inc()
                continue
            try:
                event = parse_stream_fields(fields)
            except EnvelopeError as exc:
                self._reject(base, entry, f"envelope: {exc}", fields)
                continue
            gateway, seq = event.gateway, _seq(event)
            if gateway is None or seq is None:
                base.processed += 1  # not from a gateway: nothing for analytics to judge
                continue
            items.append(_Item(entry, event, gateway, seq))
        with tracing.batch_span(
            "analytics.process",
            (item.event.traceparent for item in items),
            kind=SpanKind.CONSUMER,
            attributes={"events": len(entries)},
        ):
            return await self._judge_and_commit(items, base, entries)

    async def _judge_and_commit(
        self, items: list[_Item], base: Commit, entries: list[tuple[Any, Any]]
    ) -> int:
        for _attempt in range(MAX_ATTEMPTS):
            plan: _Plan | None = None
            try:
                plan = await self._judge(items, base)
                conflict = await self.store.commit(plan.commit)
            except BaseException:
                self._forget(items, plan)  # cached states may hold uncommitted changes
                raise
            if conflict is None:
                self._committed(plan, entries)
                return len(entries)
            self.metrics.conflicts.inc()
            self._forget(items, plan)
        log.warning("batch of %d entries kept conflicting; left pending for a retry", len(items))
        return 0

    def _reject(self, commit: Commit, entry: str, reason: str, fields: Any) -> None:
        self.metrics.errors.labels("rejected").inc()
        log.warning("rejected stream entry %s: %s", entry, reason)
        raw = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            )
            for k, v in (fields or {}).items()
        }
        commit.rejects.append({"entry": entry, "stream": self.settings.stream,
                               "reason": reason, "fields": str(raw)[:4000]})  # fmt: skip

    async def _judge(self, items: list[_Item], base: Commit) -> _Plan:
        sensors = {i.event.subject for i in items if i.event.type in _JUDGED and i.event.subject}
        gateways = {i.gateway for i in items}
        await self._load(sensors, gateways)
        await self._load(set().union(*(self._members[g] for g in gateways)), set())
        commit = Commit(rejects=list(base.rejects), ack=list(base.ack), processed=base.processed)
        plan = _Plan(commit, stream_time=dict(self._stream_time))
        seen: set[tuple[str, int]] = set()
        new_runs: dict[str, list[int]] = {}
        for item in items:
            key = (item.gateway, item.seq)
            if key in seen or applied.contains(self._applied.get(item.gateway, []), item.seq):
                self.metrics.duplicates.inc()
                continue
            seen.add(key)
            new_runs.setdefault(item.gateway, []).append(item.seq)
            commit.processed += 1
            event = item.event
            plan.types[event.type] = plan.types.get(event.type, 0) + 1
            if event.type in _JUDGED:
                self._apply(item, plan)
            if event.time is not None:
                now = max(plan.stream_time.get(item.gateway, 0.0), event.time)
                plan.stream_time[item.gateway] = now
                self._check_stale(item.gateway, now, plan)
        commit.applied = {g: applied.runs(seqs) for g, seqs in new_runs.items()}
        commit.sensors = [(s, self._cache[s][1], st) for s, st in plan.touched.items()]
        return plan

    def _apply(self, item: _Item, plan: _Plan) -> None:
        event, commit = item.event, plan.commit
        if not event.subject:
            self._reject(commit, item.entry, "subject: missing", event.to_stream_fields())
            return
        state = self._cache[event.subject][0]
        plan.touched[event.subject] = state
        try:
            commit.outputs.extend(o.to_stream_fields() for o in self.judge.apply(state, event))
        except Rejected as exc:
            self._reject(commit, item.entry, f"{event.subject}: {exc}", event.to_stream_fields())
        except Exception as exc:  # a bug must not poison the stream: keep the entry aside
            log.exception("judging %s failed", event.id)
            self._reject(commit, item.entry, f"internal error: {exc!r}", event.to_stream_fields())
        new = plan.new_members.setdefault(item.gateway, set())
        if event.subject not in self._members[item.gateway] and event.subject not in new:
            new.add(event.subject)
            commit.members.append((item.gateway, event.subject))

    def _check_stale(self, gateway: str, now: float, plan: _Plan) -> None:
        """Every `stale_check` seconds of a gateway's stream time: which sensors went silent."""
        if now < plan.stale_mark.get(gateway, self._stale_mark.get(gateway, 0.0)):
            return
        plan.stale_mark[gateway] = now + self.settings.judgement.stale_check
        for sensor in self._members.get(gateway, set()) | plan.new_members.get(gateway, set()):
            state = self._cache[sensor][0]
            for event in self.judge.check_stale(state, now):
                plan.commit.outputs.append(event.to_stream_fields())
                plan.touched[sensor] = state

    async def _load(self, sensors: set[str], gateways: set[str]) -> None:
        missing = [s for s in sensors if s not in self._cache]
        if missing:
            self._cache.update(await self.store.load_sensors(missing))
        new_gateways = [g for g in gateways if g not in self._applied]
        if new_gateways:
            self._applied.update(await self.store.load_applied(new_gateways))
        for gateway in gateways:
            if gateway not in self._members:
                self._members[gateway] = await self.store.gateway_sensors(gateway)

    def _forget(self, items: list[_Item], plan: _Plan | None) -> None:
        """Drop cached state that may differ from Redis; it is reloaded on next use."""
        for item in items:
            if item.event.subject:
                self._cache.pop(item.event.subject, None)
            self._applied.pop(item.gateway, None)
        if plan is None:  # failed half-way: any member may have been changed
            for members in self._members.values():
                for sensor in members:
                    self._cache.pop(sensor, None)
        else:
            for sensor in plan.touched:
                self._cache.pop(sensor, None)

    def _committed(self, plan: _Plan, entries: list[tuple[Any, Any]]) -> None:
        commit = plan.commit
        for sensor, version, state in commit.sensors:
            self._cache[sensor] = (state, version + 1)
            self.metrics.sensor(sensor, state.last_value, state.status)
        for gateway, runs in commit.applied.items():
            self._applied[gateway] = applied.merge(self._applied.get(gateway, []), runs)
        for gateway, sensor in commit.members:
            self._members.setdefault(gateway, set()).add(sensor)
        self._stream_time = plan.stream_time
        self._stale_mark.update(plan.stale_mark)
        for type_, count in plan.types.items():
            self.metrics.processed.labels(type_).inc(count)
        for fields in commit.outputs:
            self.metrics.emitted.labels(fields["type"]).inc()
        self.status.processed += commit.processed
        now = self.clock.time()
        for raw_id, _fields in entries:
            entry = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            millis = entry.partition("-")[0]
            if millis.isdigit():
                self.metrics.latency.observe(max(0.0, now - int(millis) / 1000))


def still_running() -> None:
    """Re-raise a cancellation a library swallowed (seen with redis-py during reconnects)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def entries_of(reply: Any) -> list[tuple[Any, Any]]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def _seq(event: CloudEvent) -> int | None:
    seq = event.data.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq
    tail = event.id.rpartition(":")[2]
    return int(tail) if tail.isdigit() else None
