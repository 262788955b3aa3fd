"""Trend and breach prediction: Theil-Sen on bucket medians, door spikes left out.

Readings are reduced to one median per `bucket` seconds (event time). A bucket that rises or
falls faster than `spike_rate` units/minute from the last normal bucket opens a *spike* (a
door opening): spike buckets are left out of the fit until the value is back near where it
started, or has moved back fast and settled (the door closed), or `spike_max` has passed
(the new level is accepted). Over the last `window`
seconds the Theil-Sen slope (median of pairwise slopes, robust to ~29% outliers) is
extrapolated from the latest bucket to each limit. A trend opens an episode only once the
level has left the sensor's usual range: the 10th to 90th percentile of its normal buckets
over the `baseline` before the window, widened by a quarter (a thermostat's sawtooth rises
1 degC/min for minutes in every cycle and must not look like a failure); the fit starts at
the last turning point. A breach predicted within `horizon` for
`confirm` consecutive buckets, with predicted times that agree within the update margin,
opens an *episode* (one prediction event), later events only
when the predicted time moves by more than the update margin, and a clear only when no fit
has seen the breach within twice the horizon for `clear_after` seconds of sensor time.

The episode is in the checkpointed state, so an instance that takes a sensor over goes on
with it; the hysteresis on sensor time is what keeps it open when a takeover leaves a hole
in the readings (a batch committed after a newer one judges nothing).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from analytics.history import History
from analytics.limits import Limits
from analytics.settings import Judgement

# A turn must stand out of the noise by this many of its standard deviations.
TURN_NOISE = 4.0
# An open episode is kept while its breach is predicted within this many horizons: a
# slow rise estimated a little slower must not clear it at the horizon's edge.
KEEP_HORIZON = 2.0


def theil_sen(points: list[tuple[float, float]]) -> float | None:
    """The median of the pairwise slopes of (t, v) points; None with fewer than two times."""
    slopes = []
    for i, (t1, v1) in enumerate(points):
        for t2, v2 in points[i + 1 :]:
            if t2 != t1:
                slopes.append((v2 - v1) / (t2 - t1))
    if not slopes:
        return None
    return statistics.median(slopes)


def _since_turn(
    points: list[tuple[float, float]], sign: float, min_span: float, tolerance: float
) -> list[tuple[float, float]]:
    """The points since the last turning point towards the limit on side `sign` (for a
    high limit: a trough, below everything after it); none while the run after a real turn
    (something before it more than `tolerance` higher) is shorter than `min_span`.

    The fit starts there: a thermostat's falling half-cycle before the failure would pull
    the slope down and the prediction late. A trough that only the noise made (a slow,
    noisy rise has one every few buckets) is passed over while the run after it is short:
    waiting on those, a failure went unpredicted, or was predicted only when the readings
    happened to be split one way between consumers."""
    for j in range(len(points) - 3, 0, -1):
        here = points[j][1] * sign
        if points[j - 1][1] * sign <= here or any(p[1] * sign < here for p in points[j:]):
            continue
        long_enough = points[-1][0] - points[j][0] >= min_span
        if long_enough or any(p[1] * sign > here + tolerance for p in points[:j]):
            return points[j:] if long_enough else []
    return points


@dataclass(frozen=True, slots=True)
class Prediction:
    """A change of a sensor's prediction: raised, updated or cleared (predicted_at None)."""

    rule: str
    threshold: float
    predicted_at: float | None
    slope_per_h: float
    action: str  # raised | updated | cleared
    episode: str


@dataclass(slots=True)
class Trend:
    """Per-sensor trend state; serialisable with to_dict/from_dict for the checkpoint."""

    open_index: int | None = None
    open_values: list[float] = field(default_factory=list)
    # closed buckets in the window: [start time, median, is_spike]
    buckets: list[list[Any]] = field(default_factory=list)
    spike_since: float | None = None
    spike_base: float | None = None
    spike_size: float = 0.0  # signed: the first spike bucket minus the base
    spike_receding: bool = False
    candidate_rule: str | None = None
    recent: list[float] = field(default_factory=list)  # last predicted times of the candidate
    # sensor time since which no fit has kept the open episode (None: the last one did)
    quiet_since: float | None = None
    slope: float | None = None  # units per second, last fit
    # normal buckets over the baseline: [start time, median], for the usual range
    history: History = field(default_factory=History)
    # the open episode: rule, threshold, predicted_at, episode id
    episode: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["history"] = self.history.pairs()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Trend:
        fields = {k: raw[k] for k in cls.__slots__ if k in raw}
        fields["history"] = History(fields.get("history") or ())
        return cls(**fields)

    def add(
        self, time: float, value: float, limits: Limits, cfg: Judgement, trigger: str
    ) -> list[Prediction]:
        """Add one in-order reading; returns the prediction changes it causes (usually none)."""
        index = int(time // cfg.bucket)
        if self.open_index is None or index == self.open_index:
            self.open_index = index
            self.open_values.append(value)
            return []
        if index < self.open_index:
            return []  # a late reading for a closed bucket: left out of the trend
        closed = self._close(cfg)
        self.open_index = index
        self.open_values = [value]
        if closed is None:
            return []
        return self._evaluate(closed, limits, cfg, trigger)

    def _close(self, cfg: Judgement) -> list[Any] | None:
        assert self.open_index is not None
        start = self.open_index * cfg.bucket
        median = statistics.median(self.open_values)
        normal = [b for b in self.buckets if not b[2]]
        spike = False
        if self.spike_since is not None:
            assert self.spike_base is not None
            prev = self.buckets[-1][1] if self.buckets else median
            step = (median - prev) / cfg.bucket * 60.0
            back = abs(median - self.spike_base) <= 0.25 * abs(self.spike_size)
            settled = self.spike_receding and abs(step) <= cfg.spike_rate
            if back or settled or start - self.spike_since > cfg.spike_max:
                self.spike_since = self.spike_base = None
                self.spike_receding = False
            else:
                spike = True
                # the door closed: a fast move back; the spike ends when that move settles
                self.spike_receding |= step * self.spike_size < 0 and abs(step) > cfg.spike_rate
        elif normal:
            last_t, last_v = normal[-1][0], normal[-1][1]
            rate = (median - last_v) / max(start - last_t, cfg.bucket) * 60.0
            if abs(rate) > cfg.spike_rate:
                self.spike_since, self.spike_base = start, last_v
                self.spike_size = median - last_v
                spike = True
        bucket = [start, median, spike]
        self.buckets.append(bucket)
        horizon = start - cfg.window
        while self.buckets and self.buckets[0][0] <= horizon:
            self.buckets.pop(0)
        if spike:
            return None
        self.history.append(start, median)
        self.history.drop_until(start - cfg.baseline)
        return bucket

    def _usual(self, before: float, cfg: Judgement) -> tuple[float, float] | None:
        """The usual range (low, high) of the normal buckets older than `before`: their 10th
        to 90th percentile (the tail of a door opening's recovery is not usual), widened by
        a quarter of its width; None while less than `baseline_min` of it is known."""
        old = self.history.medians_before(before)
        if len(old) < 2 or before - self.history.first_time() < cfg.baseline_min:
            return None
        deciles = statistics.quantiles(old, n=10)
        low, high = deciles[0], deciles[-1]
        margin = 0.25 * (high - low)
        return low - margin, high + margin

    def _noise(self, cfg: Judgement) -> float:
        """The noise of the bucket medians (a robust standard deviation), from the second
        differences of consecutive normal buckets: a straight rise or a sawtooth's straight
        halves add nothing to them, only the noise and the turns do."""
        # as lists: indexing an array makes a new float object each time
        t, m = self.history.times.tolist(), self.history.medians.tolist()
        steps = [
            abs(m[i + 1] - 2.0 * m[i] + m[i - 1])
            for i in range(1, len(m) - 1)
            if t[i + 1] - t[i - 1] == 2.0 * cfg.bucket
        ]
        # median |N(0, 6 sigma^2)| = 0.6745 * sqrt(6) sigma
        return statistics.median(steps) / 1.652 if steps else 0.0

    def _evaluate(
        self, last: list[Any], limits: Limits, cfg: Judgement, trigger: str
    ) -> list[Prediction]:
        points = [(b[0], b[1]) for b in self.buckets if not b[2]]
        if len(points) < 3 or points[-1][0] - points[0][0] < cfg.min_span:
            self.slope = None
            return []
        slope = theil_sen(points)
        self.slope = slope
        if slope is None:
            return []
        now, level = last[0] + cfg.bucket, last[1]
        # The usual range and the turning point are for opening an episode, not keeping
        # it: a slow drift stays near the top of its own recent range and would flap.
        gate = self.episode is None
        usual = self._usual(points[0][0], cfg) if gate else None
        tolerance = TURN_NOISE * self._noise(cfg) if gate else 0.0
        candidate: tuple[str, float, float] | None = None
        rate = slope
        held = False  # the open episode's breach is still coming (or here)
        for rule, limit, sign in (("high", limits.high, 1.0), ("low", limits.low, -1.0)):
            if limit is None:
                continue
            ours = self.episode is not None and self.episode["rule"] == rule
            inside = gate and (
                usual is None or (level <= usual[1] if sign > 0 else level >= usual[0])
            )
            if (level - limit) * sign >= 0:
                held |= ours
                continue
            if inside:
                continue
            # Keeping an open episode uses the whole window: the episode must not flap.
            run = _since_turn(points, sign, cfg.min_span, tolerance) if gate else points
            run_slope = theil_sen(run) if len(run) >= 3 else None
            if run_slope is None or run_slope * sign <= 0:
                continue
            eta = (limit - level) / run_slope
            held |= ours and eta <= KEEP_HORIZON * cfg.horizon
            if eta <= cfg.horizon and (candidate is None or eta < candidate[2] - now):
                candidate = (rule, limit, now + eta)
                rate = run_slope
        return self._decide(candidate, held, last[0], now, rate, cfg, trigger)

    def _decide(
        self,
        candidate: tuple[str, float, float] | None,
        held: bool,
        start: float,
        now: float,
        slope: float,
        cfg: Judgement,
        trigger: str,
    ) -> list[Prediction]:
        per_h = round(slope * 3600.0, 6)
        if candidate is None:
            self.recent = []
        elif candidate[0] == self.candidate_rule:
            self.recent = [*self.recent[-(cfg.confirm - 1) :], candidate[2]]
        else:
            self.recent = [candidate[2]]
        self.candidate_rule = candidate[0] if candidate is not None else None
        stable = len(self.recent) >= cfg.confirm and max(self.recent) - min(self.recent) <= max(
            cfg.update_min, cfg.update_margin * (self.recent[-1] - now)
        )
        episode = self.episode
        if episode is None:
            if candidate is None or not stable:
                return []
            rule, threshold, at = candidate
            self.episode = {"rule": rule, "threshold": threshold, "at": at, "id": trigger}
            self.quiet_since = None
            return [Prediction(rule, threshold, at, per_h, "raised", trigger)]
        if held:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = start
        if candidate is not None and candidate[0] == episode["rule"]:
            at = candidate[2]
            margin = max(cfg.update_min, cfg.update_margin * max(episode["at"] - now, 0.0))
            if abs(at - episode["at"]) > margin and stable:
                episode["at"] = at
                return [Prediction(episode["rule"], episode["threshold"], at, per_h, "updated",
                                   episode["id"])]  # fmt: skip
            return []
        if self.quiet_since is not None and now - self.quiet_since >= cfg.clear_after:
            self.episode = self.quiet_since = None
            return [
                Prediction(episode["rule"], episode["threshold"], None, per_h, "cleared",
                           episode["id"])
            ]  # fmt: skip
        return []
