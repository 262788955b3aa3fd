"""Alarm rules as pure state machines: samples in, raise/clear transitions out.

No I/O and no clock of their own: the engine (`edge.alarms.engine`) feeds each rule the
committed readings of its sensor as `Sample`s and calls `on_deadline` when the rule's
`deadline()` (monotonic seconds) has passed, so a delay fires on time even when no further
reading arrives. Times in transitions are epoch seconds; `since` is when the condition began.

A delay (`for`) is satisfied when the condition has held that long either on the gateway's
monotonic clock (live operation) or between the readings' own times (a backlog a broker
delivers at once after an outage shows the condition held long enough already).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import edgeconfig as config


@dataclass(slots=True, frozen=True)
class Sample:
    """One committed reading as the rules see it."""

    value: float
    time: float  # the reading's time: the sensor's own, else the receive time (epoch s)
    received: float  # the gateway's receive time (epoch s)
    mono: float  # the monotonic instant the gateway received it
    # False: no sensor time, `time` is the receive time on the gateway's wall clock, which
    # may be stepped: such a reading is never late, and only the monotonic clock times a delay
    timed: bool = True


@dataclass(slots=True, frozen=True)
class Raise:
    threshold: float
    value: float
    since: float  # when the condition began
    time: float  # when the rule fired


@dataclass(slots=True, frozen=True)
class Clear:
    value: float | None
    since: float  # the raise's `since`, so the duration is `time - since`
    time: float
    reason: str | None = None
    received: float | None = None  # the clearing reading's receive time (epoch s)


Transition = Raise | Clear


@dataclass(slots=True)
class Pending:
    """A condition that holds but has not held for the delay yet."""

    since: float  # reading time of the sample that began it
    received: float  # its receive time (survives a restart, unlike `mono`)
    mono: float
    first_value: float
    value: float  # the latest value while the condition holds


class Rule:
    """Common interface of every rule; `dirty` is set when what `snapshot()` shows changed."""

    name: str = ""
    priority: str = "warning"  # critical | warning, from the config (alarm.raised/cleared)
    active_since: float | None = None
    dirty: bool = False

    def on_sample(self, sample: Sample) -> Transition | None:
        raise NotImplementedError

    def deadline(self) -> float | None:
        """The monotonic time at which `on_deadline` has something to do, if any."""
        return None

    def on_deadline(self, mono: float, wall: float) -> Transition | None:
        return None

    def snapshot(self) -> dict[str, float] | None:
        """The pending delay to keep across a restart (None: nothing pending)."""
        return None

    def restore(
        self, active_since: float | None, pending: dict[str, Any] | None, mono: float, wall: float
    ) -> None:
        """Take back the state persisted before a restart; a pending delay keeps counting
        through the downtime (its start is known on the wall clock)."""
        self.active_since = active_since

    def resume(self, latest: float) -> None:
        """After a restart: `latest` is a reading time evaluated before the checkpoint, so
        a reading older than it is still recognised as late."""


class _Delayed(Rule):
    """A condition that must hold for `delay` seconds to raise and clears by its own test."""

    def __init__(self, name: str, threshold: float, delay: float) -> None:
        self.name = name
        self.threshold = threshold
        self.delay = delay
        self.pending: Pending | None = None
        self.active_since = None
        self.latest: float | None = None  # the newest reading time evaluated

    def _check(self, sample: Sample) -> tuple[bool, bool, float]:
        """(condition holds, alarm may clear, the value to report)."""
        raise NotImplementedError

    def on_sample(self, sample: Sample) -> Transition | None:
        if sample.timed:
            if self.latest is not None and sample.time < self.latest:
                # A late reading (an MQTT message redelivered behind newer ones after a
                # failed commit) is history: it neither raises a second alarm for an
                # excursion already judged nor clears an alarm raised on a newer reading.
                return None
            self.latest = sample.time
        holds, clears, value = self._check(sample)
        if self.active_since is not None:
            if not clears:
                return None
            since, self.active_since = self.active_since, None
            self.dirty = True
            return Clear(value, since, sample.time, received=sample.received)
        if not holds:
            if self.pending is not None:
                self.pending = None
                self.dirty = True
            return None
        pending = self.pending
        if pending is None:
            pending = Pending(sample.time, sample.received, sample.mono, value, value)
            self.pending = pending
            self.dirty = True
        else:
            pending.value = value
        held = sample.mono - pending.mono
        if sample.timed:
            held = max(held, sample.time - pending.since)
        if held >= self.delay:
            return self._raise(sample.time)
        return None

    def resume(self, latest: float) -> None:
        self.latest = latest if self.latest is None else max(self.latest, latest)

    def deadline(self) -> float | None:
        if self.pending is None or self.active_since is not None:
            return None
        return self.pending.mono + self.delay

    def on_deadline(self, mono: float, wall: float) -> Transition | None:
        due = self.deadline()
        if due is None or mono < due:
            return None
        return self._raise(wall)

    def _raise(self, at: float) -> Raise:
        pending = self.pending
        assert pending is not None
        self.pending = None
        self.active_since = pending.since
        self.dirty = True
        return Raise(self.threshold, pending.value, pending.since, at)

    def snapshot(self) -> dict[str, float] | None:
        if self.pending is None or self.active_since is not None:
            return None
        p = self.pending
        return {"since": p.since, "received": p.received, "value": p.first_value}

    def restore(
        self, active_since: float | None, pending: dict[str, Any] | None, mono: float, wall: float
    ) -> None:
        self.active_since = active_since
        self.pending = None
        if active_since is None and pending is not None:
            received = float(pending["received"])
            value = float(pending["value"])
            started = mono - max(0.0, wall - received)
            self.pending = Pending(float(pending["since"]), received, started, value, value)


class HighRule(_Delayed):
    """Raise above `above` (after `for`), clear at or below `clear_below`."""

    def __init__(self, rule: config.HighRule) -> None:
        super().__init__("high", rule.above, rule.for_)
        self.clear = rule.clear

    def _check(self, sample: Sample) -> tuple[bool, bool, float]:
        v = sample.value
        return v > self.threshold, v <= self.clear, v


class LowRule(_Delayed):
    """Raise below `below` (after `for`), clear at or above `clear_above`."""

    def __init__(self, rule: config.LowRule) -> None:
        super().__init__("low", rule.below, rule.for_)
        self.clear = rule.clear

    def _check(self, sample: Sample) -> tuple[bool, bool, float]:
        v = sample.value
        return v < self.threshold, v >= self.clear, v


class RateRule(_Delayed):
    """Raise when the least-squares slope of the last `window` of readings rises at least
    `rise_per_minute`; clear once it is below half of that (hysteresis for noisy slopes).

    The slope needs three readings spanning at least half the window, so two noisy
    readings a few seconds apart never look like a runaway freezer.
    """

    def __init__(self, rule: config.RateRule) -> None:
        super().__init__("rate", rule.rise_per_minute, rule.for_)
        self.window = rule.window
        self._points: deque[tuple[float, float]] = deque()

    def _check(self, sample: Sample) -> tuple[bool, bool, float]:
        points = self._points
        if points and sample.time < points[-1][0]:
            points.clear()  # receive times of readings without a sensor time: a clock step
        points.append((sample.time, sample.value))  # else in time order: late ones are skipped
        while points[0][0] < points[-1][0] - self.window:
            points.popleft()
        slope = self.slope()
        if slope is None:
            return False, False, 0.0
        return slope >= self.threshold, slope < self.threshold / 2, round(slope, 4)

    def slope(self) -> float | None:
        """Rise per minute over the window, None while there is too little data."""
        points = self._points
        if len(points) < 3 or points[-1][0] - points[0][0] < self.window / 2:
            return None
        t0 = points[0][0]
        n = len(points)
        mean_t = sum(t - t0 for t, _ in points) / n
        mean_v = sum(v for _, v in points) / n
        num = sum((t - t0 - mean_t) * (v - mean_v) for t, v in points)
        den = sum((t - t0 - mean_t) ** 2 for t, _ in points)
        return num / den * 60.0 if den > 0 else None


class OfflineRule(Rule):
    """Raise when no valid reading has arrived for `after`; clear on the next reading.

    Watched from the moment it is armed (the engine's start for configured sensors), so a
    sensor whose driver never connects raises too. Times are the gateway's receive times:
    silence is something the gateway observes, not the sensor.
    """

    name = "offline"

    def __init__(self, rule: config.OfflineRule, mono: float, wall: float) -> None:
        self.after = rule.after
        self.last_mono = mono
        self.last_received = wall
        self.active_since = None

    def on_sample(self, sample: Sample) -> Transition | None:
        self.last_mono = max(self.last_mono, sample.mono)
        self.last_received = max(self.last_received, sample.received)
        if self.active_since is None:
            return None
        since, self.active_since = self.active_since, None
        self.dirty = True
        return Clear(sample.value, since, sample.received, received=sample.received)

    def deadline(self) -> float | None:
        return None if self.active_since is not None else self.last_mono + self.after

    def on_deadline(self, mono: float, wall: float) -> Transition | None:
        due = self.deadline()
        if due is None or mono < due:
            return None
        self.active_since = self.last_received
        self.dirty = True
        return Raise(self.after, round(mono - self.last_mono, 3), self.last_received, wall)


def build(alarms: config.Alarms, mono: float, wall: float) -> list[Rule]:
    """The rule objects of one concrete sensor, armed at (`mono`, `wall`)."""
    rules: list[Rule] = []
    if alarms.high is not None:
        rules.append(HighRule(alarms.high))
    if alarms.low is not None:
        rules.append(LowRule(alarms.low))
    if alarms.rate is not None:
        rules.append(RateRule(alarms.rate))
    if alarms.offline is not None:
        rules.append(OfflineRule(alarms.offline, mono, wall))
    for rule in rules:
        configured = getattr(alarms, rule.name)
        rule.priority = configured.priority or "warning"
    return rules
