"""Excursions, gaps and the time-weighted figures of one sensor, computed by the database.

The readings never come into Python: one window query (LAG/LEAD, SQLite ≥ 3.25 and
PostgreSQL) weights each reading by the time it stands for and cuts the series into *runs*
— consecutive readings on the same side of the limits (`high`, `low` or in range ``""``),
also cut after an interval longer than the gap threshold — and returns one aggregate row
per run (a 30-day series at 1 reading/10 s is a few dozen rows). Python then folds runs:

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


def compute(
    conn: Any,
    d: Any,
    sensor: str,
    start: float,
    end: float,
    *,
    above: float | None,
    below: float | None,
    unit: str | None,
    offline_after: float | None = None,
) -> Figures:
    """The sensor's figures over [start, end) (runs on a reader connection)."""
    _ensure_math(conn, d)
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

    def runs_with(typical: float) -> tuple[list[Run], int, int, float, float]:
        cap = typical * GAP_FACTOR
        threshold = max(cap, offline_after or 0.0)
        last_w = max(0.0, min(typical, end - float(last)))
        runs, shorter, upto = _runs(
            conn, d, sensor, start, end, above, below, unit, cap, threshold, last_w, count,
            typical,
        )  # fmt: skip
        return runs, shorter, upto, threshold, last_w

    # The median interval of a sample is usually the median of all (regular sampling):
    # the runs query counts the intervals below and up to it, which proves it (or not,
    # then the exact median is sorted out and the runs computed again).
    typical = _sample_median(conn, d, sensor, start, end) if count > 1 else 1.0
    runs, shorter, upto, threshold, last_w = runs_with(typical)
    if count > 1 and not _is_median(typical, shorter, upto, count - 1):
        typical = _typical(conn, d, sensor, start, end, count)
        runs, _, _, threshold, last_w = runs_with(typical)
    report = _summary(runs, unit, above, below, count)
    excursions = _excursions(runs, 1.0 if count == 1 else last_w)
    gaps: list[tuple[float, float]] = []
    if float(first) - start > threshold:
        gaps.append((start, float(first)))
    gaps += [(r.last, r.next) for r in runs if r.gap_after and r.next is not None]
    tail_end = float(last) + typical
    if end - tail_end > threshold:
        gaps.append((tail_end, end))
    return Figures(report, excursions, gaps, typical, threshold)


SAMPLE = 1000  # intervals at the start of the period whose median is tried first


def _sample_median(conn: Any, d: Any, sensor: str, start: float, end: float) -> float:
    rows = d.all(
        conn,
        "SELECT time FROM readings WHERE sensor = ? AND time >= ? AND time < ? ORDER BY time"
        " LIMIT ?",
        (sensor, start, end, SAMPLE + 1),
    )
    times = [float(r[0]) for r in rows]
    return statistics.median(b - a for a, b in itertools.pairwise(times))


def _is_median(x: float, shorter: int, upto: int, m: int) -> bool:
    """True when `x` is exactly the median of m intervals, `shorter` of them < x and
    `upto` of them <= x (both middle values equal x when m is even)."""
    if x <= 0:
        return False
    if m % 2:
        return shorter <= (m - 1) // 2 and upto >= (m + 1) // 2
    return shorter <= m // 2 - 1 and upto >= m // 2 + 1


def _typical(conn: Any, d: Any, sensor: str, start: float, end: float, count: int) -> float:
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


def _runs(
    conn: Any,
    d: Any,
    sensor: str,
    start: float,
    end: float,
    above: float | None,
    below: float | None,
    unit: str | None,
    cap: float,
    threshold: float,
    last_w: float,
    count: int,
    probe: float,
) -> tuple[list[Run], int, int]:
    offset = TEMPERATURE_UNITS.get(unit or "")
    ratio = DELTA_H / GAS_CONSTANT
    arrhenius = "NULL" if offset is None else f"SUM(w * EXP(-{ratio!r} / (value + {offset!r})))"
    single = count == 1  # one reading stands for 1 s (reports.weights)
    state = "CASE WHEN {v} > ? THEN 'high' WHEN {v} < ? THEN 'low' ELSE '' END"
    # LEAD only (SQLite's LAG is markedly slower): a row *ends* its run when the next
    # reading is on another side of a limit, after an offline gap, or there is none.
    rows = d.all(
        conn,
        f"""WITH s AS (
            SELECT time, value, {state.format(v="value")} AS st,
                LEAD(time) OVER w AS nxt, {state.format(v="LEAD(value) OVER w")} AS next_st
            FROM readings WHERE sensor = ? AND time >= ? AND time < ?
            WINDOW w AS (ORDER BY time)),
        e AS (
            SELECT time, value, nxt, st,
                CASE WHEN nxt IS NULL THEN ? WHEN nxt - time > ? THEN ? ELSE nxt - time END AS w,
                CASE WHEN nxt - time > ? THEN 1 ELSE 0 END AS gap,
                CASE WHEN nxt IS NULL OR nxt - time > ? OR next_st <> st THEN 1 ELSE 0 END AS ends
            FROM s),
        g AS (
            SELECT time, value, nxt, st, w, gap,
                SUM(ends) OVER (ORDER BY time ROWS UNBOUNDED PRECEDING) - ends AS grp
            FROM e)
        SELECT st, MIN(time), MAX(time), MAX(nxt), SUM(CASE WHEN nxt IS NULL THEN 1 ELSE 0 END),
            COUNT(*), SUM(w), SUM(value), SUM(value * w), MIN(value), MAX(value), {arrhenius},
            MAX(gap), SUM(CASE WHEN nxt - time < ? THEN 1 ELSE 0 END),
            SUM(CASE WHEN nxt - time <= ? THEN 1 ELSE 0 END)
        FROM g GROUP BY grp, st ORDER BY grp""",
        (
            above,
            below,
            above,
            below,
            sensor,
            start,
            end,
            1.0 if single else last_w,
            cap,
            cap,
            threshold,
            threshold,
            probe,
            probe,
        ),
    )
    runs = []
    shorter = upto = 0
    for st, t0, t1, nxt, open_, n, w, sv, svw, lo, hi, arr, gap, below_n, upto_n in rows:
        shorter += int(below_n)
        upto += int(upto_n)
        runs.append(
            Run(
                state=str(st),
                first=float(t0),
                last=float(t1),
                next=None if int(open_) else float(nxt),
                count=int(n),
                weight=float(w),
                sum_v=float(sv),
                sum_vw=float(svw),
                lo=float(lo),
                hi=float(hi),
                sum_arrhenius=None if arr is None else float(arr),
                gap_after=bool(gap),
            )
        )
    return runs, shorter, upto


def _summary(
    runs: list[Run], unit: str | None, above: float | None, below: float | None, count: int
) -> Report:
    weight = sum(r.weight for r in runs)
    if weight <= 0:  # every reading at one instant: equal weights (reports.weights)
        weight = float(count)
        runs = [_reweighted(r) for r in runs]
    arr = [r.sum_arrhenius for r in runs]
    total = None if any(a is None for a in arr) else sum(a for a in arr if a is not None)
    return Report(
        count=count,
        min=min(r.lo for r in runs),
        max=max(r.hi for r in runs),
        mean=sum(r.sum_v for r in runs) / count,
        time_weighted_mean=sum(r.sum_vw for r in runs) / weight,
        covered_s=weight if count > 1 else 0.0,
        time_above_s=None if above is None else sum(r.weight for r in runs if r.state == "high"),
        time_below_s=None if below is None else sum(r.weight for r in runs if r.state == "low"),
        mkt=mkt_in_unit(total, weight, unit),
    )


def _reweighted(run: Run) -> Run:
    arr = None
    if run.sum_arrhenius is not None and run.weight > 0:
        arr = run.sum_arrhenius / run.weight * run.count
    return Run(
        run.state, run.first, run.last, run.next, run.count, float(run.count), run.sum_v,
        run.sum_v, run.lo, run.hi, arr, run.gap_after,
    )  # fmt: skip


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


def _ensure_math(conn: Any, d: Any) -> None:
    """SQLite builds without the math functions get EXP from Python (same result)."""
    if d.name != "sqlite":
        return
    try:
        conn.execute("SELECT EXP(0)")
    except sqlite3.OperationalError:  # no such function: EXP
        conn.create_function("EXP", 1, math.exp, deterministic=True)
