"""Excursions, gaps and the time-weighted figures of one sensor, computed by the database.

`full_pass` reads every reading of the period; reports use central/excursion_buckets.py,
which gives the same figures from the hourly summaries and falls back to this pass (and
is tested against it).

The readings never come into Python: one pass (a LEAD window materialized once; SQLite ≥
3.35 and PostgreSQL ≥ 12) weights each reading by the time it stands for and returns the
totals plus only the readings that *end a run* — consecutive readings on the same side of
the limits (`high`, `low` or in range), also cut after an interval longer than the gap
threshold (a 30-day series at 1 reading/10 s gives a few dozen rows). Each out-of-range
run then gets its peak, weight and MKT sum from an index range query over its readings
alone. (LEAD only: SQLite's LAG is markedly slower; a second window level with a GROUP BY
per run was twice as slow.) Python then folds runs:

- weights follow central/reports.py (sample-and-hold; an interval counts at most
  `GAP_FACTOR` typical intervals; the last reading holds one typical interval, never past
  the period's end), so the summary equals `reports.summarize` over the same readings;
- an **excursion** is a maximal stretch of out-of-range runs of one rule: from its first
  reading outside the limit to the first reading back inside (worst case: an offline gap
  inside or at its end counts as out of range, and is listed with it), or `ongoing` when
  the data ends outside; its peak is the highest (high) or lowest (low) value;
- a **gap** (offline period) is an interval between readings longer than the threshold
  (`GAP_FACTOR` typical intervals, or the sensor's `offline.after_s` when that is longer),
  and the stretch from the period's start to the first reading or the last to its end.

Over 400 lines on purpose: the SQL of the one pass and the Python that folds its rows
belong together (each assumes what the other returns).
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import statistics
from dataclasses import dataclass, field
from typing import Any

from central.reports import DELTA_H, GAP_FACTOR, GAS_CONSTANT, KELVIN, Report

TEMPERATURE_UNITS = {"degC": KELVIN, "°C": KELVIN, "C": KELVIN, "K": 0.0}


@dataclass(frozen=True, slots=True)
class Limits:
    """What a sensor's figures are measured against: its alarm limits, its unit (a
    temperature also gets its MKT) and its `offline.after_s` (a longer gap threshold)."""

    above: float | None
    below: float | None
    unit: str | None
    offline_after: float | None = None


@dataclass(frozen=True, slots=True)
class Run:
    state: str  # "high", "low" or "" (in range)
    first: float  # time of the first reading
    last: float  # time of the last reading
    next: float | None  # time of the reading after the run (None: the data ends)
    count: int
    weight: float  # seconds the run's readings stand for
    sum_v: float
    sum_vw: float
    lo: float
    hi: float
    sum_arrhenius: float | None  # Σ w·exp(-ΔH/(R·T)), temperatures only
    gap_after: bool  # the interval after the run is an offline gap


@dataclass(slots=True)
class Excursion:
    rule: str
    start: float
    end: float
    peak: float
    count: int
    ongoing: bool
    weight: float
    sum_arrhenius: float | None
    gaps: list[tuple[float, float]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def mkt(self, unit: str | None) -> float | None:
        """MKT during the excursion in the sensor's unit (temperatures only)."""
        return mkt_in_unit(self.sum_arrhenius, self.weight, unit)


@dataclass(frozen=True, slots=True)
class Figures:
    """What the database told about one sensor's period."""

    report: Report
    excursions: list[Excursion]
    gaps: list[tuple[float, float]]
    typical_interval_s: float | None
    gap_threshold_s: float | None


def full_pass(conn: Any, d: Any, sensor: str, start: float, end: float, limits: Limits) -> Figures:
    """The sensor's figures over [start, end) from every reading (runs on a reader
    connection); the reference the hourly summaries must agree with, and their fallback."""
    above, below, unit = limits.above, limits.below, limits.unit
    ensure_math(conn, d)
    count, first, last = d.one(
        conn,
        "SELECT COUNT(*), MIN(time), MAX(time) FROM readings WHERE sensor = ? AND time >= ?"
        " AND time < ?",
        (sensor, start, end),
    )
    count = int(count)
    if count == 0:
        empty = Report(0, None, None, None, None, 0.0, None, None, None)
        return Figures(empty, [], [(start, end)], None, None)

    def scan_with(typical: float, unit_weights: bool = False) -> tuple[Scan, float, float]:
        cap = typical * GAP_FACTOR
        threshold = max(cap, limits.offline_after or 0.0)
        last_w = 1.0 if count == 1 else max(0.0, min(typical, end - float(last)))
        lim = _ScanLimits(above, below, cap, threshold, last_w, unit_weights)
        return _scan(conn, d, sensor, start, end, lim, unit, typical), threshold, last_w

    # The median interval of a sample is usually the median of all (regular sampling):
    # the scan counts the intervals below and up to it, which proves it (or not: then the
    # exact median is sorted out and the scan runs again).
    typical = sample_median(conn, d, sensor, start, end) if count > 1 else 1.0
    scan, threshold, last_w = scan_with(typical)
    if count > 1 and not is_median(typical, scan.shorter, scan.upto, count - 1):
        typical = exact_typical(conn, d, sensor, start, end, count)
        scan, threshold, last_w = scan_with(typical)
    unit_weights = scan.weight <= 0  # every reading at one instant: equal weights
    if unit_weights:
        scan, threshold, last_w = scan_with(typical, unit_weights=True)
    lim = _ScanLimits(above, below, typical * GAP_FACTOR, threshold, last_w, unit_weights)
    runs = _runs(conn, d, sensor, end, scan, float(first), lim, unit)
    return assemble(
        scan, runs, count, (float(first), float(last)), (start, end), (typical, threshold), limits
    )


def assemble(
    scan: Scan,
    runs: list[Run],
    count: int,
    data: tuple[float, float],
    period: tuple[float, float],
    typical_threshold: tuple[float, float],
    limits: Limits,
) -> Figures:
    """The figures from the totals and the runs (the full pass and the hourly summaries of
    central/excursion_buckets.py share it, so both say the same)."""
    first, last = data
    start, end = period
    typical, threshold = typical_threshold
    last_w = 1.0 if count == 1 else max(0.0, min(typical, end - last))
    report = _summary(scan, limits.unit, limits.above, limits.below, count)
    excursions = _excursions(runs, last_w)
    gaps: list[tuple[float, float]] = []
    if first - start > threshold:
        gaps.append((start, first))
    gaps += [(r.last, r.next) for r in runs if r.gap_after and r.next is not None]
    tail_end = last + typical
    if end - tail_end > threshold:
        gaps.append((tail_end, end))
    return Figures(report, excursions, gaps, typical, threshold)


SAMPLE = 1000  # intervals at the start of the period whose median is tried first


def sample_median(conn: Any, d: Any, sensor: str, start: float, end: float) -> float:
    rows = d.all(
        conn,
        "SELECT time FROM readings WHERE sensor = ? AND time >= ? AND time < ? ORDER BY time"
        " LIMIT ?",
        (sensor, start, end, SAMPLE + 1),
    )
    times = [float(r[0]) for r in rows]
    return statistics.median(b - a for a, b in itertools.pairwise(times))


def is_median(x: float, shorter: int, upto: int, m: int) -> bool:
    """True when `x` is exactly the median of m intervals, `shorter` of them < x and
    `upto` of them <= x (both middle values equal x when m is even)."""
    if x <= 0:
        return False
    if m % 2:
        return shorter <= (m - 1) // 2 and upto >= (m + 1) // 2
    return shorter <= m // 2 - 1 and upto >= m // 2 + 1


def exact_typical(conn: Any, d: Any, sensor: str, start: float, end: float, count: int) -> float:
    """The median interval between readings (as `statistics.median`), else the largest."""
    if count < 2:
        return 1.0
    intervals = count - 1
    offset, limit = ((intervals - 1) // 2, 1) if intervals % 2 else (intervals // 2 - 1, 2)
    rows = d.all(
        conn,
        """WITH s AS (SELECT LEAD(time) OVER (ORDER BY time) - time AS g FROM readings
            WHERE sensor = ? AND time >= ? AND time < ?)
        SELECT g FROM s WHERE g IS NOT NULL ORDER BY g LIMIT ? OFFSET ?""",
        (sensor, start, end, limit, offset),
    )
    median = sum(float(r[0]) for r in rows) / len(rows)
    if median > 0:
        return median
    row = d.one(
        conn,
        """WITH s AS (SELECT LEAD(time) OVER (ORDER BY time) - time AS g FROM readings
            WHERE sensor = ? AND time >= ? AND time < ?) SELECT MAX(g) FROM s""",
        (sensor, start, end),
    )
    return float(row[0] or 0.0) or 1.0


@dataclass(frozen=True, slots=True)
class _ScanLimits:
    """The limits of one pass's SQL, with the weights it gives readings."""

    above: float | None
    below: float | None
    cap: float  # an interval counts at most this long
    threshold: float  # an interval longer than this is an offline gap
    last_w: float  # what the last reading stands for
    unit_weights: bool  # every reading counts 1 (all at one instant)


@dataclass(frozen=True, slots=True)
class Scan:
    count: int
    weight: float
    sum_v: float
    sum_vw: float
    sum_arrhenius: float | None
    lo: float
    hi: float
    weight_high: float
    weight_low: float
    shorter: int  # intervals shorter than the probed typical interval
    upto: int  # intervals up to it
    edges: list[tuple[float, float, float | None, str, bool]]  # time, value, next, state, gap


_STATE = "CASE WHEN {v} > ? THEN 1 WHEN {v} < ? THEN -1 ELSE 0 END"
_STATES = {1: "high", -1: "low", 0: ""}
_F = "DOUBLE PRECISION"


def _weight_sql() -> str:
    """What a reading stands for: params (unit weights 0/1, last weight, cap, cap)."""
    return (
        "CASE WHEN ? = 1 THEN 1.0 WHEN nxt IS NULL THEN ? WHEN nxt - time > ? THEN ?"
        " ELSE nxt - time END"
    )


def _arrhenius(unit: str | None, weighted: bool) -> str:
    offset = TEMPERATURE_UNITS.get(unit or "")
    if offset is None:
        return "NULL"
    ratio = DELTA_H / GAS_CONSTANT
    return f"SUM({'w * ' if weighted else ''}EXP(-{ratio!r} / (value + {offset!r})))"


def _scan(
    conn: Any,
    d: Any,
    sensor: str,
    start: float,
    end: float,
    lim: _ScanLimits,
    unit: str | None,
    probe: float,
) -> Scan:
    """One pass (one LEAD window, materialized once): the totals, and the rows that end a
    run — the next reading is on another side of a limit, after an offline gap, or none."""
    row_state = _STATE.format(v="value")
    next_state = _STATE.format(v="LEAD(value) OVER w")
    rows = d.all(
        conn,
        f"""WITH s AS MATERIALIZED (
            SELECT time, value, {row_state} AS st, LEAD(time) OVER w AS nxt,
                {next_state} AS next_st
            FROM readings WHERE sensor = ? AND time >= ? AND time < ?
            WINDOW w AS (ORDER BY time)),
        e AS (SELECT time, value, st, next_st, nxt, {_weight_sql()} AS w FROM s)
        SELECT 0, CAST(COUNT(*) AS {_F}), CAST(SUM(w) AS {_F}), CAST(SUM(value) AS {_F}),
            CAST(SUM(value * w) AS {_F}), CAST({_arrhenius(unit, True)} AS {_F}),
            CAST(MIN(value) AS {_F}), CAST(MAX(value) AS {_F}),
            CAST(SUM(CASE WHEN st = 1 THEN w ELSE 0 END) AS {_F}),
            CAST(SUM(CASE WHEN st = -1 THEN w ELSE 0 END) AS {_F}),
            CAST(SUM(CASE WHEN nxt - time < ? THEN 1 ELSE 0 END) AS {_F}),
            CAST(SUM(CASE WHEN nxt - time <= ? THEN 1 ELSE 0 END) AS {_F})
        FROM e
        UNION ALL
        SELECT 1, time, value, nxt, CAST(st AS {_F}),
            CAST(CASE WHEN nxt - time > ? THEN 1 ELSE 0 END AS {_F}),
            NULL, NULL, NULL, NULL, NULL, NULL
        FROM e WHERE nxt IS NULL OR nxt - time > ? OR next_st <> st""",
        (
            lim.above,
            lim.below,
            lim.above,
            lim.below,
            sensor,
            start,
            end,
            int(lim.unit_weights),
            lim.last_w,
            lim.cap,
            lim.cap,
            probe,
            probe,
            lim.threshold,
            lim.threshold,
        ),
    )
    total = next(r for r in rows if int(r[0]) == 0)
    edges = sorted(
        (float(t), float(v), None if n is None else float(n), _STATES[int(st)], bool(gap))
        for kind, t, v, n, st, gap, *_ in rows
        if int(kind) == 1
    )
    return Scan(
        count=int(total[1]),
        weight=float(total[2] or 0.0),
        sum_v=float(total[3] or 0.0),
        sum_vw=float(total[4] or 0.0),
        sum_arrhenius=None if total[5] is None else float(total[5]),
        lo=float(total[6]),
        hi=float(total[7]),
        weight_high=float(total[8] or 0.0),
        weight_low=float(total[9] or 0.0),
        shorter=int(total[10] or 0),
        upto=int(total[11] or 0),
        edges=edges,
    )


def _runs(
    conn: Any,
    d: Any,
    sensor: str,
    end: float,
    scan: Scan,
    first: float,
    lim: _ScanLimits,
    unit: str | None,
) -> list[Run]:
    """Runs from the scan's edges; out-of-range runs get their own figures (count, weight,
    peak, Arrhenius sum) from an index range query over just their readings."""
    runs: list[Run] = []
    begin = first
    for time_, _value, nxt, state, gap in scan.edges:
        if state:
            runs.append(_run_detail(conn, d, sensor, end, state, begin, time_, nxt, gap, lim, unit))
        else:
            runs.append(Run(state, begin, time_, nxt, 0, 0.0, 0.0, 0.0, 0.0, 0.0, None, gap))
        if nxt is not None:
            begin = nxt
    return runs


def _run_detail(
    conn: Any,
    d: Any,
    sensor: str,
    end: float,
    state: str,
    begin: float,
    last: float,
    nxt: float | None,
    gap: bool,
    lim: _ScanLimits,
    unit: str | None,
) -> Run:
    upper = last if nxt is None else nxt  # the reading after the run gives its last weight
    row = d.one(
        conn,
        f"""WITH s AS (SELECT time, value, LEAD(time) OVER (ORDER BY time) AS nxt FROM readings
            WHERE sensor = ? AND time >= ? AND time <= ? AND time < ?),
        e AS (SELECT time, value, nxt, {_weight_sql()} AS w FROM s)
        SELECT COUNT(*), SUM(w), SUM(value), SUM(value * w), MIN(value), MAX(value),
            {_arrhenius(unit, True)}
        FROM e WHERE time <= ?""",
        (sensor, begin, upper, end, int(lim.unit_weights), lim.last_w, lim.cap, lim.cap, last),
    )
    n, w, sv, svw, lo, hi, arr = row
    return Run(
        state=state,
        first=begin,
        last=last,
        next=nxt,
        count=int(n),
        weight=float(w or 0.0),
        sum_v=float(sv or 0.0),
        sum_vw=float(svw or 0.0),
        lo=float(lo),
        hi=float(hi),
        sum_arrhenius=None if arr is None else float(arr),
        gap_after=gap,
    )


def _summary(
    scan: Scan, unit: str | None, above: float | None, below: float | None, count: int
) -> Report:
    return Report(
        count=count,
        min=scan.lo,
        max=scan.hi,
        mean=scan.sum_v / count,
        time_weighted_mean=scan.sum_vw / scan.weight,
        covered_s=scan.weight if count > 1 else 0.0,
        time_above_s=None if above is None else scan.weight_high,
        time_below_s=None if below is None else scan.weight_low,
        mkt=mkt_in_unit(scan.sum_arrhenius, scan.weight, unit),
    )


def _excursions(runs: list[Run], last_w: float) -> list[Excursion]:
    out: list[Excursion] = []
    current: Excursion | None = None
    for run in runs:
        if run.state == "":
            current = None
            continue
        if current is None or current.rule != run.state:
            current = Excursion(
                rule=run.state,
                start=run.first,
                end=run.last,
                peak=run.hi if run.state == "high" else run.lo,
                count=0,
                ongoing=False,
                weight=0.0,
                sum_arrhenius=0.0,
            )
            out.append(current)
        current.peak = (
            max(current.peak, run.hi) if run.state == "high" else min(current.peak, run.lo)
        )
        current.count += run.count
        current.weight += run.weight
        if current.sum_arrhenius is not None and run.sum_arrhenius is not None:
            current.sum_arrhenius += run.sum_arrhenius
        else:
            current.sum_arrhenius = None
        if run.next is None:
            current.ongoing = True
            current.end = run.last + last_w  # the last reading holds (reports.weights)
        else:
            current.end = run.next
            if run.gap_after:
                current.gaps.append((run.last, run.next))
    return out


def mkt_in_unit(sum_arrhenius: float | None, weight: float, unit: str | None) -> float | None:
    """MKT from Σ w·exp(-ΔH/(R·T)) and Σ w, in the sensor's unit (°C or K)."""
    offset = TEMPERATURE_UNITS.get(unit or "")
    if offset is None or sum_arrhenius is None or weight <= 0 or sum_arrhenius <= 0:
        return None
    kelvin = (DELTA_H / GAS_CONSTANT) / -math.log(sum_arrhenius / weight)
    return kelvin - offset


def ensure_math(conn: Any, d: Any) -> None:
    """SQLite builds without the math functions get EXP from Python (same result)."""
    if d.name != "sqlite":
        return
    try:
        conn.execute("SELECT EXP(0)")
    except sqlite3.OperationalError:  # no such function: EXP
        conn.create_function("EXP", 1, math.exp, deterministic=True)
