"""A sensor's excursion figures from its hourly summaries, reading raw readings only where needed.

Over 400 lines on purpose: one algorithm (hourly summaries to exact excursions) that must
give the full pass's figures to the second; it is tested as a unit against that pass.

The same figures as the full pass (central/excursions.py, the reference), from the rows
ingest keeps per sensor and hour (central/storage/rollups.py): a 30-day report reads ~720
summaries and the readings of the few hours that need them:

- an hour is taken whole when its readings are all on one side of the limits (in range,
  all high or all low: from its min/max), its summary is exact (no late reading landed
  inside it), it lies inside the period, no two of its readings share a time and, for a
  temperature, every reading has its Arrhenius term; its readings then form one piece,
  weighted by their own intervals (Σ value·interval kept at ingest) and the last one by
  the interval to the next piece;
- every other hour is read reading by reading (a door opening, the period's first and
  last hour, an hour with a reading that arrived late);
- the typical interval (the median) is proven as the full pass does it: the sample
  median of the first 1,000 intervals must have at most half the intervals below it and
  at least half up to it — an hour whose shortest and longest intervals straddle it is
  read reading by reading (when few do) or the exact median is sorted out in SQL;
- an hour with an interval longer than the gap cap (10 typical intervals) is read too.

Sums of floating-point numbers come out in another order than the full pass adds them:
mean, time-weighted mean and MKT agree to ~1e-12 relative; every time, duration, count,
peak, gap and excursion is the same number. Temperatures in kelvin (rare) take the full pass.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from central import excursions
from central.excursions import TEMPERATURE_UNITS, Figures, Limits, Run, Scan
from central.reports import DELTA_H, GAP_FACTOR, GAS_CONSTANT, KELVIN, Report
from central.storage.rollups import BUCKET, LOWEST_CELSIUS

_RATIO = DELTA_H / GAS_CONSTANT
# An item is a stretch of readings of one hour on one side of the limits, weighted as one:
# (first_t, last_t, n, last_v, min_v, max_v, sum_v, min_g, max_g, sum_vg, sum_eg, last_e,
#  state, shorter, upto) — the last two count its intervals below and up to the probed
# typical interval when it was read from the readings (None for an hour's summary).
Item = tuple[
    float, float, int, float, float, float, float, float | None, float | None, float, float,
    float | None, str, int | None, int | None,
]  # fmt: skip
_STATES = {1: "high", -1: "low", 0: ""}
_FEW = 0.25  # read hours reading by reading to prove the median when they hold <= 25 %


class _FullPass(Exception):
    """The summaries cannot give the full pass's figures here (rare): run it."""


def compute(conn: Any, d: Any, sensor: str, start: float, end: float, limits: Limits) -> Figures:
    """The sensor's figures over [start, end), as `excursions.full_pass` gives them."""
    offset = TEMPERATURE_UNITS.get(limits.unit or "")
    args = (conn, d, sensor, start, end, limits)
    if offset is None or offset == KELVIN:
        try:
            return _Buckets(*args, temperature=offset is not None).figures()
        except _FullPass:
            pass
    return excursions.full_pass(*args)


class _Buckets:
    def __init__(
        self,
        conn: Any,
        d: Any,
        sensor: str,
        start: float,
        end: float,
        limits: Limits,
        *,
        temperature: bool,
    ) -> None:
        self.conn, self.d, self.sensor = conn, d, sensor
        self.start, self.end = start, end
        self.limits = limits
        self.temperature = temperature
        self.hours: dict[float, list[Item]] = {}  # bucket -> its items, in time order
        self.summaries: dict[float, Item] = {}  # hours taken from their summary
        self.read: set[float] = set()  # hours whose items came from their readings
        self.probe = 1.0  # the interval counted against (the sample median)
        self.split = math.inf  # read runs are cut after an interval longer than this

    def figures(self) -> Figures:
        excursions.ensure_math(self.conn, self.d)
        c, d, sensor, start, end = self.conn, self.d, self.sensor, self.start, self.end
        sample = d.all(
            c, "SELECT COUNT(*) FROM (SELECT 1 FROM readings WHERE sensor = ? AND time >= ?"
            " AND time < ? LIMIT 2) AS x", (sensor, start, end),
        )  # fmt: skip
        if int(sample[0][0]) > 1:
            self.probe = excursions.sample_median(c, d, sensor, start, end)
        self.split = self.probe * GAP_FACTOR
        self._load()
        count = sum(it[2] for its in self.hours.values() for it in its)
        if count == 0:
            empty = Report(0, None, None, None, None, 0.0, None, None, None)
            return Figures(empty, [], [(start, end)], None, None)
        typical = self._typical(count)
        cap = typical * GAP_FACTOR
        if cap != self.split:  # the sample median was not the median (irregular sampling)
            self.split = cap
            self._read(sorted(self.read))
        threshold = max(cap, self.limits.offline_after or 0.0)
        self._read(
            [b for b, it in self.summaries.items() if b not in self.read and (it[8] or 0.0) > cap]
        )
        items = [it for bucket in sorted(self.hours) for it in self.hours[bucket]]
        first, last = items[0][0], items[-1][1]
        last_w = 1.0 if count == 1 else max(0.0, min(typical, end - last))
        scan, runs = self._fold(items, count, cap, threshold, last_w)
        if scan.weight <= 0:
            raise _FullPass  # every reading at one instant: the full pass weighs them equally
        return excursions.assemble(
            scan, runs, count, (first, last), (start, end), (typical, threshold), self.limits
        )

    def _load(self) -> None:
        """The period's hours: from their summary when it can stand for them (split around
        the readings out of range when the hour has some), else read."""
        rows = self.d.all(
            self.conn,
            """SELECT bucket, n, first_t, last_t, last_v, min_v, max_v, sum_v, min_g, max_g,
                sum_vg, sum_eg, last_e, n_e, exact FROM reading_rollups
            WHERE sensor = ? AND bucket >= ? AND bucket <= ? ORDER BY bucket""",
            (self.sensor, self.start - self.start % BUCKET - BUCKET, self.end),
        )
        to_read: list[float] = []
        crossing: dict[float, Item] = {}
        for row in rows:
            bucket, n, first_t, last_t, last_v, lo, hi = (float(x) for x in row[:7])
            sum_v, min_g, max_g, sum_vg, sum_eg, last_e, n_e, exact = row[7:]
            if last_t < self.start or first_t >= self.end:
                continue
            if self.temperature and lo <= LOWEST_CELSIUS:
                raise _FullPass  # no Arrhenius term in a double: the full pass says what
            usable = (
                int(exact) == 1
                and first_t >= self.start
                and last_t < self.end
                and (int(n) == 1 or float(min_g) > 0)
                and (not self.temperature or int(n_e) == int(n))
            )
            if not usable:
                to_read.append(bucket)
                continue
            state = self._state(lo, hi)
            item: Item = (
                first_t, last_t, int(n), last_v, lo, hi, float(sum_v),
                None if min_g is None else float(min_g),
                None if max_g is None else float(max_g),
                float(sum_vg), float(sum_eg),
                None if last_e is None else float(last_e),
                state or "", None, None,
            )  # fmt: skip
            self.summaries[bucket] = item
            if state is None:
                crossing[bucket] = item
            else:
                self.hours[bucket] = [item]
        self._split(crossing)
        self._read(to_read)

    def _split(self, crossing: dict[float, Item]) -> None:
        """Hours with readings on both sides of a limit: only the readings out of range are
        read (with their neighbours' times); the in-range stretches between them get the
        rest of the hour's summary."""
        if not crossing:
            return
        out: dict[float, list[tuple[float, float, float | None, float | None, float | None]]]
        out = {b: [] for b in crossing}
        for lo, hi in _ranges(sorted(crossing)):
            rows = self.d.all(
                self.conn,
                _OUT_OF_RANGE.format(bucket=self.d.bucket(BUCKET)),
                (self.sensor, lo - 1.0, hi + 1.0, self.limits.above, self.limits.below),
            )
            for b, t, v, prev_t, prev_v, next_t in rows:
                if float(b) in out:
                    out[float(b)].append(
                        (float(t), float(v), _f(prev_t), _f(prev_v), _f(next_t))
                    )  # fmt: skip
        for bucket, readings in out.items():
            if not readings:  # cannot be (its max or min is out of range): read it
                self._read([bucket])
                continue
            self.hours[bucket] = self._pieces(crossing[bucket], readings)

    def _pieces(
        self,
        hour: Item,
        readings: list[tuple[float, float, float | None, float | None, float | None]],
    ) -> list[Item]:
        """The hour as items: runs of its readings out of range, and the in-range stretches
        between them (the first stretch carries what the summary leaves for all of them)."""
        runs: list[list[tuple[float, float, float | None, float | None, float | None]]] = []
        for r in readings:
            if runs and r[2] == runs[-1][-1][0] and self._side(r[1]) == self._side(runs[-1][-1][1]):
                runs[-1].append(r)
            else:
                runs.append([r])
        # in-range stretches: (first_t, last_t, last_v) before, between and after the runs
        stretches: list[tuple[int, float, float, float]] = []  # (position, first, last, last_v)
        if runs[0][0][0] > hour[0]:
            stretches.append((0, hour[0], _req(runs[0][0][2]), _req(runs[0][0][3])))
        for i in range(1, len(runs)):
            before, after = runs[i - 1][-1], runs[i][0]
            if after[2] != before[0]:
                stretches.append((i, _req(before[4]), _req(after[2]), _req(after[3])))
        if runs[-1][-1][0] < hour[1]:
            stretches.append((len(runs), _req(runs[-1][-1][4]), hour[1], hour[3]))
        run_items = [self._run_item(run) for run in runs]
        items: list[Item] = []
        by_position = {pos: (first, last, last_v) for pos, first, last, last_v in stretches}
        placeholders: list[int] = []
        for pos in range(len(runs) + 1):
            if pos in by_position:
                first, last, last_v = by_position[pos]
                last_e = hour[11] if last == hour[1] else self._e(last_v)
                placeholders.append(len(items))
                items.append(
                    (first, last, 1, last_v, hour[4], hour[5], 0.0, hour[7], hour[8], 0.0, 0.0,
                     last_e, "", None, None)
                )  # fmt: skip
            if pos < len(runs):
                items.append(run_items[pos])
        if placeholders:  # the summary minus what the runs and the links between items hold
            links_vg = sum(
                items[j][3] * (items[j + 1][0] - items[j][1]) for j in range(len(items) - 1)
            )
            links_eg = sum(
                (items[j][11] or 0.0) * (items[j + 1][0] - items[j][1])
                for j in range(len(items) - 1)
            )
            k = placeholders[0]
            n = hour[2] - sum(it[2] for it in run_items) - (len(placeholders) - 1)
            first, last, _, last_v, lo, hi, _, min_g, max_g, _, _, last_e = items[k][:12]
            items[k] = (
                first, last, n, last_v, lo, hi, hour[6] - sum(it[6] for it in run_items),
                min_g, max_g, hour[9] - sum(it[9] for it in run_items) - links_vg,
                hour[10] - sum(it[10] for it in run_items) - links_eg, last_e, "", None, None,
            )  # fmt: skip
        return items

    def _run_item(
        self, run: list[tuple[float, float, float | None, float | None, float | None]]
    ) -> Item:
        times = [r[0] for r in run]
        values = [r[1] for r in run]
        es = [self._e(v) for v in values]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        x = self.probe
        return (
            times[0], times[-1], len(run), values[-1], min(values), max(values), sum(values),
            min(gaps) if gaps else None, max(gaps) if gaps else None,
            sum(v * g for v, g in zip(values, gaps, strict=False)),
            sum((e or 0.0) * g for e, g in zip(es, gaps, strict=False)),
            es[-1], self._side(values[0]), sum(g < x for g in gaps), sum(g <= x for g in gaps),
        )  # fmt: skip

    def _side(self, v: float) -> str:
        if self.limits.above is not None and v > self.limits.above:
            return "high"
        if self.limits.below is not None and v < self.limits.below:
            return "low"
        return ""

    def _e(self, v: float) -> float | None:
        return math.exp(-_RATIO / (v + KELVIN)) if self.temperature else None

    def _state(self, lo: float, hi: float) -> str | None:
        """The side of the limits all values in [lo, hi] are on ("" in range), or None."""
        above, below = self.limits.above, self.limits.below
        if above is not None and lo > above:
            return "high"
        if above is not None and hi > above:
            return None
        if below is not None and hi < below:
            return "low"
        if below is not None and lo < below:
            return None
        return ""

    def _read(self, buckets: list[float]) -> None:
        """Replace these hours by items made from their readings in SQL: runs of readings
        on one side of the limits, cut after an interval longer than `split`."""
        if not buckets:
            return
        wanted = set(buckets)
        for bucket in buckets:
            self.hours[bucket] = []
            self.summaries.pop(bucket, None)
        self.read |= wanted
        offset = TEMPERATURE_UNITS.get(self.limits.unit or "") if self.temperature else None
        e = "NULL" if offset is None else f"EXP(-{_RATIO!r} / (value + {offset!r}))"
        for lo, hi in _ranges(sorted(wanted)):
            rows = self.d.all(
                self.conn,
                _READ_RUNS.format(bucket=self.d.bucket(BUCKET), e=e),
                (
                    self.limits.above, self.limits.below, self.sensor, max(self.start, lo - 1.0),
                    min(self.end, hi + 1.0), self.split, self.probe, self.probe,
                ),
            )  # fmt: skip
            for b, first_t, last_t, n, last_v, vlo, vhi, sv, min_g, max_g, svg, seg, last_e, \
                    shorter, upto, st in rows:  # fmt: skip
                if float(b) in wanted:
                    self.hours[float(b)].append(
                        (
                            float(first_t), float(last_t), int(n), float(last_v), float(vlo),
                            float(vhi), float(sv), None if min_g is None else float(min_g),
                            None if max_g is None else float(max_g), float(svg), float(seg),
                            None if last_e is None else float(last_e), _STATES[int(st)],
                            int(shorter), int(upto),
                        )
                    )  # fmt: skip

    def _typical(self, count: int) -> float:
        """The median interval, as the full pass finds it."""
        if count == 1:
            return 1.0
        x, m = self.probe, count - 1
        shorter, upto, straddle = _count(self.hours, x)
        unknown = sum(straddle.values())
        proven = excursions.is_median(x, shorter + unknown, upto, m)
        if unknown and not proven and unknown <= _FEW * m:
            self._read(list(straddle))
            shorter, upto, straddle = _count(self.hours, x)
            unknown = sum(straddle.values())
        # Unknown intervals counted as shorter for one bound and as longer for the other.
        if excursions.is_median(x, shorter + unknown, upto, m):
            return x
        return excursions.exact_typical(self.conn, self.d, self.sensor, self.start, self.end, count)

    def _fold(
        self, items: list[Item], count: int, cap: float, threshold: float, last_w: float
    ) -> tuple[Scan, list[Run]]:
        """Totals and runs, as the full pass's scan and `_runs` give them."""
        arr_total: float | None = 0.0 if self.temperature else None
        weight = sum_v = sum_vw = w_high = w_low = 0.0
        lo, hi = math.inf, -math.inf
        runs: list[Run] = []
        begin = items[0][0]
        r_n, r_w, r_v, r_vw, r_lo, r_hi, r_arr = 0, 0.0, 0.0, 0.0, math.inf, -math.inf, 0.0
        for i, it in enumerate(items):
            first_t, last_t, n, last_v, it_lo, it_hi, it_sum, _, _, svg, seg, last_e = it[:12]
            state = it[12]
            nxt = items[i + 1][0] if i + 1 < len(items) else None
            w_last = last_w if nxt is None else min(nxt - last_t, cap)
            w = (last_t - first_t) + w_last
            vw = svg + last_v * w_last
            weight += w
            sum_v += it_sum
            sum_vw += vw
            lo, hi = min(lo, it_lo), max(hi, it_hi)
            arr = 0.0
            if arr_total is not None and last_e is not None:
                arr = seg + last_e * w_last
                arr_total += arr
            if state == "high":
                w_high += w
            elif state == "low":
                w_low += w
            if state:
                r_n, r_w, r_v, r_vw = r_n + n, r_w + w, r_v + it_sum, r_vw + vw
                r_lo, r_hi, r_arr = min(r_lo, it_lo), max(r_hi, it_hi), r_arr + arr
            gap = nxt is not None and nxt - last_t > threshold
            if nxt is None or gap or items[i + 1][12] != state:
                if state:
                    arr_run = r_arr if arr_total is not None else None
                    runs.append(
                        Run(state, begin, last_t, nxt, r_n, r_w, r_v, r_vw, r_lo, r_hi, arr_run,
                            gap)
                    )  # fmt: skip
                else:
                    runs.append(
                        Run(state, begin, last_t, nxt, 0, 0.0, 0.0, 0.0, 0.0, 0.0, None, gap)
                    )
                r_n, r_w, r_v, r_vw, r_lo, r_hi, r_arr = 0, 0.0, 0.0, 0.0, math.inf, -math.inf, 0.0
                if nxt is not None:
                    begin = nxt
        scan = Scan(count, weight, sum_v, sum_vw, arr_total, lo, hi, w_high, w_low, 0, 0, [])
        return scan, runs


# Runs of readings in [?, ?) grouped per hour: a run ends where the next reading of the hour
# is on another side of the limits or more than `split` seconds later, or the hour ends.
_READ_RUNS = """WITH r AS (
    SELECT {bucket} AS b, time, value, {e} AS e,
        CASE WHEN value > ? THEN 1 WHEN value < ? THEN -1 ELSE 0 END AS st
    FROM readings WHERE sensor = ? AND time >= ? AND time < ?),
s AS (SELECT b, time, value, e, st, LEAD(time) OVER w - time AS g, LEAD(st) OVER w AS nst
    FROM r WINDOW w AS (PARTITION BY b ORDER BY time, value)),
t AS (SELECT b, time, value, e, st, g,
    CASE WHEN g IS NULL OR g > ? OR nst <> st THEN 1 ELSE 0 END AS brk FROM s),
u AS (SELECT b, time, value, e, st, g, brk,
    SUM(brk) OVER (PARTITION BY b ORDER BY time, value ROWS UNBOUNDED PRECEDING) - brk AS run
    FROM t)
SELECT b, MIN(time), MAX(time), COUNT(*), MIN(CASE WHEN brk = 1 THEN value END),
    MIN(value), MAX(value), SUM(value),
    MIN(CASE WHEN brk = 0 THEN g END), MAX(CASE WHEN brk = 0 THEN g END),
    COALESCE(SUM(CASE WHEN brk = 0 THEN value * g END), 0),
    COALESCE(SUM(CASE WHEN brk = 0 THEN e * g END), 0), MIN(CASE WHEN brk = 1 THEN e END),
    SUM(CASE WHEN brk = 0 AND g < ? THEN 1 ELSE 0 END),
    SUM(CASE WHEN brk = 0 AND g <= ? THEN 1 ELSE 0 END), MIN(st)
FROM u GROUP BY b, run ORDER BY b, run"""


# The readings out of range in [?, ?), each with the time of the reading before it (and its
# value) and of the reading after it: index look-ups, no pass over the hour.
_OUT_OF_RANGE = """SELECT {bucket}, time, value,
    (SELECT MAX(p.time) FROM readings AS p WHERE p.sensor = r.sensor AND p.time < r.time),
    (SELECT p.value FROM readings AS p WHERE p.sensor = r.sensor AND p.time < r.time
        ORDER BY p.time DESC LIMIT 1),
    (SELECT MIN(q.time) FROM readings AS q WHERE q.sensor = r.sensor AND q.time > r.time)
FROM readings AS r WHERE sensor = ? AND time >= ? AND time < ? AND (value > ? OR value < ?)
ORDER BY time"""


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _req(value: float | None) -> float:
    if value is None:  # a neighbour inside the hour always exists here
        raise _FullPass
    return value


def _count(hours: dict[float, list[Item]], x: float) -> tuple[int, int, dict[float, int]]:
    """Intervals shorter than x, up to x, and per hour whose shortest and longest intervals
    straddle x the number of its intervals that cannot be placed without its readings."""
    shorter = upto = 0
    straddle: dict[float, int] = {}
    prev_last: float | None = None
    for bucket in sorted(hours):
        for it in hours[bucket]:
            first_t, last_t, n = it[0], it[1], it[2]
            if prev_last is not None:
                g = first_t - prev_last
                shorter += g < x
                upto += g <= x
            prev_last = last_t
            if n < 2:
                continue
            if it[13] is not None and it[14] is not None:  # read: counted against x in SQL
                shorter += it[13]
                upto += it[14]
                continue
            min_g, max_g = it[7], it[8]
            assert min_g is not None and max_g is not None
            if max_g < x:
                shorter += n - 1
                upto += n - 1
            elif min_g == max_g == x:
                upto += n - 1
            elif min_g <= x:
                straddle[bucket] = n - 1
    return shorter, upto, straddle


def _ranges(buckets: list[float]) -> list[tuple[float, float]]:
    """Sorted hours as [start, end) ranges of consecutive hours."""
    out: list[tuple[float, float]] = []
    for b in buckets:
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + BUCKET)
        else:
            out.append((b, b + BUCKET))
    return out
