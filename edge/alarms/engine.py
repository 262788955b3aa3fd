"""The rule engine: evaluates committed readings in seq order and commits alarm events.

It listens to the durable log (`add_listener`), so rules only ever see readings that are
on disk, in seq order, and its alarm events join the same seq space right after the
readings that caused them. Each alarm event is appended together with the alarm's state
(`edge.alarms.store`) in one transaction: after a restart, or after the supervisor restarts
this component, the engine reloads that state, re-evaluates the readings after its
checkpoint and so neither forgets an active alarm nor raises it twice.

Delays and offline watches are timers on the clock's monotonic time: a delay that expires
raises at that moment, whether or not another reading arrives.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from typing import Any

from prometheus_client import Counter, Gauge

from edge.alarms import resume, rules, store, transitions
from edge.alarms.sensors import SensorIndex
from edge.entry import Entry, Stored
from edge.errors import LogClosedError, LogError
from edge.log import DurableLog
from edgeconfig import Config, Sensor
from runtime import events
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock
from runtime.health import Health

log = logging.getLogger("tracseq.edge.alarms")

ALARMS_ACTIVE = Gauge("tracseq_edge_alarms_active", "Alarms raised and not yet cleared")
ALARMS_RAISED = Counter("tracseq_edge_alarms_raised_total", "Alarms raised", ["rule"])

_READ_CHUNK = 2000
Key = tuple[str, str]  # (concrete sensor id, rule name)


class RuleEngine:
    """The `rules` component: alarm rules of every configured sensor."""

    name = "rules"

    def __init__(
        self, config: Config, log_: DurableLog, clock: Clock, *, checkpoint_every: float = 5.0
    ) -> None:
        self._gateway = config.gateway.id
        self._index = SensorIndex(config.sensors)
        self._log = log_
        self._clock = clock
        self._checkpoint_every = checkpoint_every
        self._inbox: asyncio.Queue[list[Stored]] | None = None
        self._health = Health("starting")
        self.raised_total = 0
        # Without a checkpoint (first start) readings from here on are evaluated, also
        # those drivers commit before run() starts.
        self._origin = log_.last_seq
        self._reset()

    def _reset(self) -> None:
        self._rules: dict[str, list[rules.Rule]] = {}  # concrete id -> its rules
        self._alarms: dict[Key, store.ActiveAlarm] = {}
        self._last_ids: dict[Key, str] = {}
        self._timers: list[tuple[float, str, str]] = []
        self._scheduled: dict[Key, float] = {}
        self._entries: list[Entry] = []
        self._raised: list[str] = []  # rules of raises waiting for their commit
        self._state: dict[str, bytes | None] = {}
        self._seen: set[str] = set()
        self._resume_late: resume.Resume | None = None  # after a restart
        self.evaluated_seq = 0
        self._received_seq = 0
        self._checkpointed = 0
        self._checkpoint_at = 0.0
        self._busy = False
        self._retry_at: float | None = None  # a failed commit is retried from then on
        self._commit_backoff = Backoff(base=0.2, cap=5.0)
        self._commit_retry = RetryLog(log, "committing alarm events")
        self._commit_error: str | None = None  # why pending events are not committed yet

    # --- what others see ---------------------------------------------------------------

    def active_alarms(self) -> list[store.ActiveAlarm]:
        """Alarms raised and not cleared, oldest first."""
        return sorted(self._alarms.values(), key=lambda a: (a.since, a.sensor, a.rule))

    def health(self) -> Health:
        count = len(self._alarms)
        counters = {"active_alarms": count, "raised": self.raised_total}
        if self._commit_error is not None:
            return Health("degraded", self._commit_error, counters)
        detail = f"{count} active alarm(s)" if self._health.state == "connected" else ""
        return Health(self._health.state, detail or self._health.detail, counters)

    @property
    def idle(self) -> bool:
        """True when every reading seen is evaluated and no timer is due (for tests/bench)."""
        if self._busy or self.evaluated_seq < self._received_seq:
            return False
        return not self._timers or self._timers[0][0] > self._clock.monotonic()

    # --- running -----------------------------------------------------------------------

    async def run(self) -> None:
        self._reset()
        inbox: asyncio.Queue[list[Stored]] = asyncio.Queue()
        self._inbox = inbox  # from now on every commit is queued; older ones are in the log
        self._log.add_listener(self._on_commit)
        try:
            await self._start()
            self._health = Health("connected")
            await self._serve(inbox)
        except Exception as exc:
            self._health = Health("degraded", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._log.remove_listener(self._on_commit)
            self._inbox = None
            if self._health.state == "connected":
                self._health = Health("stopped")

    def _on_commit(self, stored: list[Stored]) -> None:
        if self._inbox is not None and stored:
            self._received_seq = max(self._received_seq, stored[-1].seq)
            self._inbox.put_nowait(stored)

    async def _start(self) -> None:
        """Arm configured sensors, take back persisted alarms, catch up with the log."""
        mono, wall = self._clock.monotonic(), self._clock.time()
        for sensor in self._index.concrete:
            self._rules[sensor.id] = rules.build(sensor.alarms, mono, wall)
        for key in self._log.state(store.SEEN_PREFIX):
            seen = self._index.resolve(key.removeprefix(store.SEEN_PREFIX))
            if seen is None or not seen.templated or seen.alarms.offline is None:
                self._state[key] = None  # its template or offline rule is gone
            else:
                self._seen.add(key.removeprefix(store.SEEN_PREFIX))
        for sensor_id in self._seen:
            self._rules_of(sensor_id)
        for key, raw in self._log.state(store.ALARM_PREFIX).items():
            self._restore(key, raw, mono, wall)
        checkpoint = self._log.state(store.CHECKPOINT).get(store.CHECKPOINT)
        if checkpoint is not None:
            self._resume_late = resume.Resume(self._log, int(checkpoint))
        if checkpoint is None:  # first start: history before the engine existed is not replayed
            self.evaluated_seq = self._origin
            self._state[store.CHECKPOINT] = str(self.evaluated_seq).encode()
        else:
            self.evaluated_seq = self._checkpointed = int(checkpoint)
        self._received_seq = max(self._received_seq, self.evaluated_seq)
        await self._flush(force=True)
        while True:
            chunk = await self._log.read(self.evaluated_seq, _READ_CHUNK)
            if not chunk:
                break
            await self._resume(chunk)
            self._evaluate(chunk)
            await self._flush()
        for sensor_id, sensor_rules in self._rules.items():
            for rule in sensor_rules:
                self._schedule((sensor_id, rule.name), rule)
        self._fire_due()
        await self._flush()
        ALARMS_ACTIVE.set(len(self._alarms))
        if self._alarms:
            log.warning("alarms still active after start: %d", len(self._alarms))

    def _restore(self, key: str, raw: bytes, mono: float, wall: float) -> None:
        saved = store.decode(key, raw)
        if saved is None:
            return
        rule = next((r for r in self._rules_of(saved.sensor) if r.name == saved.rule), None)
        if rule is None:
            if saved.active is not None:  # the rule was removed from the config
                self._clear_unconfigured(saved.active, wall)
            else:
                self._state[key] = None
            return
        active_since = saved.active.since if saved.active is not None else None
        rule.restore(active_since, saved.pending, mono, wall)
        rule.dirty = False
        if saved.active is not None:
            self._alarms[(saved.sensor, saved.rule)] = saved.active

    def _clear_unconfigured(self, alarm: store.ActiveAlarm, wall: float) -> None:
        log.warning("alarm %s: rule no longer configured, clearing it", alarm.alarm_id)
        clear = rules.Clear(None, alarm.since, wall, reason="rule no longer configured")
        self._alarms[(alarm.sensor, alarm.rule)] = alarm
        self._apply(alarm.sensor, alarm.rule, clear)
        self._state[store.alarm_key(alarm.sensor, alarm.rule)] = None

    async def _serve(self, inbox: asyncio.Queue[list[Stored]]) -> None:
        getter: asyncio.Task[list[Stored]] | None = None
        sleeper: asyncio.Task[None] | None = None
        sleeper_at: float | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.create_task(inbox.get())
                due = self._timers[0][0] if self._timers else None
                if self._retry_at is not None and (due is None or self._retry_at < due):
                    due = self._retry_at
                if due != sleeper_at:
                    if sleeper is not None:
                        sleeper.cancel()
                    sleeper, sleeper_at = None, due
                    if due is not None:
                        sleeper = asyncio.create_task(self._sleep_until(due))
                waiting: set[asyncio.Task[Any]] = {getter}
                if sleeper is not None:
                    waiting.add(sleeper)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                self._busy = True
                try:
                    if getter in done:
                        batches = [getter.result()]
                        getter = None
                        while not inbox.empty():
                            batches.append(inbox.get_nowait())
                        for batch in batches:
                            await self._resume(batch)
                            self._evaluate(batch)
                    if sleeper is not None and sleeper in done:
                        sleeper, sleeper_at = None, None
                    self._fire_due()
                    await self._flush()
                finally:
                    self._busy = False
        finally:
            for task in (getter, sleeper):
                if task is not None:
                    task.cancel()

    async def _sleep_until(self, due: float) -> None:
        # The remaining time is taken when the task runs, not when it is created: the clock
        # may have moved in between (and a sleep may end early).
        while (remaining := due - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)

    # --- evaluation --------------------------------------------------------------------

    async def _resume(self, batch: list[Stored]) -> None:
        if self._resume_late is not None:
            await self._resume_late.before(batch, self.evaluated_seq, self._rules_of)

    def _evaluate(self, batch: list[Stored]) -> None:
        mono, wall = self._clock.monotonic(), self._clock.time()
        for stored in batch:
            if stored.seq <= self.evaluated_seq:
                continue
            self.evaluated_seq = stored.seq
            if stored.type != events.READING or stored.subject is None:
                continue
            sensor_rules = self._rules_of(stored.subject)
            if not sensor_rules:
                continue
            value = stored.data.get("value")
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            # A reading replayed after a restart began its delay back when it was received.
            age = max(0.0, wall - stored.received)
            time = stored.time if stored.time is not None else stored.received
            timed = stored.time is not None
            sample = rules.Sample(float(value), time, stored.received, mono - age, timed)
            for rule in sensor_rules:
                try:
                    transition = rule.on_sample(sample)
                except Exception:  # a bug must not stop every alarm in a restart loop
                    log.exception(
                        "rule %s of %s failed on seq %d", rule.name, stored.subject, stored.seq
                    )
                    continue
                if transition is not None:
                    self._apply(stored.subject, rule.name, transition)
                self._note(stored.subject, rule)

    def _rules_of(self, sensor_id: str) -> list[rules.Rule]:
        found = self._rules.get(sensor_id)
        if found is not None:
            return found
        sensor: Sensor | None = self._index.resolve(sensor_id)
        if sensor is None or not sensor.templated:
            # Unknown ids (e.g. from the event intake) have no rules.
            self._rules[sensor_id] = []
            return []
        built = rules.build(sensor.alarms, self._clock.monotonic(), self._clock.time())
        self._rules[sensor_id] = built
        if sensor.alarms.offline is not None and sensor_id not in self._seen:
            self._seen.add(sensor_id)
            self._state[store.SEEN_PREFIX + sensor_id] = b"1"
        for rule in built:
            self._schedule((sensor_id, rule.name), rule)
        return built

    def _fire_due(self) -> None:
        mono, wall = self._clock.monotonic(), self._clock.time()
        while self._timers and self._timers[0][0] <= mono:
            at, sensor_id, name = heapq.heappop(self._timers)
            key = (sensor_id, name)
            if self._scheduled.get(key) != at:
                continue  # superseded by an earlier deadline
            del self._scheduled[key]
            rule = next(r for r in self._rules[sensor_id] if r.name == name)
            transition = rule.on_deadline(mono, wall)
            if transition is not None:
                self._apply(sensor_id, name, transition)
            self._note(sensor_id, rule)

    def _schedule(self, key: Key, rule: rules.Rule) -> None:
        due = rule.deadline()
        if due is None:
            return
        current = self._scheduled.get(key)
        if current is None or due < current:
            self._scheduled[key] = due
            heapq.heappush(self._timers, (due, *key))

    def _note(self, sensor_id: str, rule: rules.Rule) -> None:
        """After a rule saw something: persist what changed, re-arm its timer."""
        key = (sensor_id, rule.name)
        if rule.dirty:
            rule.dirty = False
            self._state[store.alarm_key(*key)] = store.encode(
                self._alarms.get(key), rule.snapshot()
            )
        self._schedule(key, rule)

    def _apply(self, sensor_id: str, name: str, transition: rules.Transition) -> None:
        key = (sensor_id, name)
        received = self._clock.time()
        if isinstance(transition, rules.Raise):
            alarm_id = f"{self._gateway}:{sensor_id}:{name}:{round(transition.since * 1000)}"
            if self._last_ids.get(key) == alarm_id:
                alarm_id += f"-{round(received * 1000)}"
            self._last_ids[key] = alarm_id
            priority = self._priority(sensor_id, name)
            alarm, entry = transitions.raised(
                alarm_id, sensor_id, name, priority, transition, received
            )
            self._alarms[key] = alarm
            self._entries.append(entry)
            self._raised.append(name)
            return
        active = self._alarms.pop(key, None)
        if active is None:  # cannot happen: a rule only clears what it raised
            log.error("alarm %s %s cleared but not active", sensor_id, name)
            return
        priority = self._priority(sensor_id, name)
        self._entries.append(transitions.cleared(active, priority, transition, received))

    def _priority(self, sensor_id: str, name: str) -> str:
        rule = next((r for r in self._rules.get(sensor_id, []) if r.name == name), None)
        return rule.priority if rule is not None else "warning"

    async def _flush(self, *, force: bool = False) -> None:
        """Commit alarm events with their state and the checkpoint, in one transaction.

        When the log cannot write (disk full) nothing is dropped and nothing restarts: the
        events and state stay pending, the engine goes on evaluating and firing timers (so
        an alarm is raised, and logged, when it falls due), and the commit of everything
        pending is retried with backoff. A restart would re-arm the offline watches."""
        now = self._clock.monotonic()
        if self._retry_at is not None and now < self._retry_at and not force:
            return
        behind = self.evaluated_seq > self._checkpointed
        periodic = behind and now - self._checkpoint_at >= self._checkpoint_every
        if not (self._entries or self._state or periodic or (force and behind)):
            return
        state = dict(self._state)
        state[store.CHECKPOINT] = str(self.evaluated_seq).encode()
        entries, raised, evaluated = list(self._entries), list(self._raised), self.evaluated_seq
        try:
            await self._log.append(entries, state=state)
        except LogClosedError:
            raise
        except LogError as exc:
            self._commit_retry.failed(exc)
            self._retry_at = self._clock.monotonic() + self._commit_backoff.next_delay()
            pending = f"{len(entries)} alarm event(s)" if entries else "alarm state"
            self._commit_error = f"{pending} not committed: {exc}"
            return
        # Only this task appends to them, and not while it waited for the commit.
        del self._entries[: len(entries)], self._raised[: len(raised)]
        for key in state.keys() & self._state.keys():
            if self._state[key] == state[key]:
                del self._state[key]
        self._checkpointed, self._checkpoint_at = evaluated, now
        if self._retry_at is not None:
            self._retry_at = None
            self._commit_backoff.reset()
            self._commit_retry.succeeded()
            self._commit_error = None
        for name in raised:
            ALARMS_RAISED.labels(rule=name).inc()
        self.raised_total += len(raised)
        ALARMS_ACTIVE.set(len(self._alarms))
