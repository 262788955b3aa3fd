"""Hourly summaries of each sensor's readings, kept in the ingest transaction.

A monthly excursion report reads a sensor's ~720 hourly rows instead of its ~260,000
readings (central/excursion_buckets.py), and the raw readings only of the hours it must
look into. A row of `reading_rollups` (migration 11) holds, for one sensor and one hour
(`bucket`, the hour's start in epoch seconds):

- `n`, `min_v`, `max_v`, `sum_v`, `first_t`/`last_t` and the values there;
- `min_g`/`max_g`: the shortest and longest interval between consecutive readings of the
  hour (NULL for one reading), and `sum_vg`/`sum_eg`: Σ value·interval and
  Σ exp(-ΔH/(R·T))·interval over those intervals (the time-weighted mean and MKT of the
  hour, before the last reading's weight, which depends on the next hour);
- `last_e`: the last reading's Arrhenius term; `n_e`: readings that have one (°C readings
  above -259 °C; PostgreSQL's EXP refuses to underflow, and a batch must never fail on it);
- `exact`: 0 once a reading landed *inside* the hour's stored span (earlier than its last
  reading): the interval columns are then stale, the others still exact, and a report
  reads that hour's readings instead. Readings that extend the hour (the normal case, a
  sync backlog after an outage included) keep it exact.

`add_new` is the one call the ingest transaction makes (central/storage/write.py): the
batch's new readings summarised per sensor and hour, then one upsert of all the rows
(`Dialect.rows`) that merges them into the stored rows (SQLite and PostgreSQL alike).
`rebuild` recomputes hours from the readings (the migration's backfill, loading an archive).
PostgreSQL's retention (central/storage/partitions.py) marks the hours before its cutoff
inexact, so reports read what is left of them.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from central.storage.dialect import Dialect
from central.storage.records import ReadingRow

BUCKET = 3_600.0  # seconds per summary row
# MKT: ΔH/R = 83,144 J/mol / 8.3144 J/(mol·K) (central/reports.py); written out here so the
# storage layer does not import the report code. Temperatures in °C only.
ARRHENIUS_RATIO = 83_144.0 / 8.3144
KELVIN = 273.15
CELSIUS_UNITS = ("degC", "°C", "C")
LOWEST_CELSIUS = -259.0  # below, exp(-ΔH/(R·T)) underflows a double

_COLUMNS = (
    "sensor, bucket, n, first_t, last_t, first_v, last_v, last_e, min_v, max_v, sum_v, "
    "min_g, max_g, sum_vg, sum_eg, n_e, exact"
)


def _arrhenius() -> str:
    units = ", ".join(f"'{u}'" for u in CELSIUS_UNITS)
    return (
        f"CASE WHEN unit IN ({units}) AND value > {LOWEST_CELSIUS!r} "
        f"THEN EXP(-{ARRHENIUS_RATIO!r} / (value + {KELVIN!r})) END"
    )


def summary_sql(d: Dialect, source: str) -> str:
    """SELECT of one summary row per (sensor, hour) of `source` (sensor, time, value, unit)."""
    bucket = d.bucket(BUCKET)
    return f"""SELECT sensor, b, COUNT(*), MIN(time), MAX(time),
        MIN(CASE WHEN rn = 1 THEN value END), MIN(CASE WHEN g IS NULL THEN value END),
        MIN(CASE WHEN g IS NULL THEN e END), MIN(value), MAX(value), SUM(value),
        MIN(g), MAX(g), COALESCE(SUM(value * g), 0), COALESCE(SUM(e * g), 0), COUNT(e), 1
    FROM (SELECT sensor, b, value, e,
            LEAD(time) OVER w - time AS g, ROW_NUMBER() OVER w AS rn, time
        FROM (SELECT sensor, {bucket} AS b, time, value, {_arrhenius()} AS e
            FROM {source} AS src) AS r
        WINDOW w AS (PARTITION BY sensor, b ORDER BY time)) AS s
    GROUP BY sensor, b"""


def _upsert(d: Dialect, source: str) -> str:
    """The upsert of summary rows given by the row source `source` (`Dialect.rows`)."""
    least, greatest = ("MIN", "MAX") if d.name == "sqlite" else ("LEAST", "GREATEST")
    r, x = "reading_rollups", "excluded"
    extends = f"{x}.first_t > {r}.last_t"  # the new readings all come after the hour's last
    join = f"({x}.first_t - {r}.last_t)"  # the interval that now links the two
    return f"""INSERT INTO reading_rollups ({_COLUMNS}) {source}
    ON CONFLICT (sensor, bucket) DO UPDATE SET
        n = {r}.n + {x}.n,
        first_t = {least}({r}.first_t, {x}.first_t),
        first_v = CASE WHEN {x}.first_t < {r}.first_t THEN {x}.first_v ELSE {r}.first_v END,
        last_t = {greatest}({r}.last_t, {x}.last_t),
        last_v = CASE WHEN {x}.last_t > {r}.last_t THEN {x}.last_v ELSE {r}.last_v END,
        last_e = CASE WHEN {x}.last_t > {r}.last_t THEN {x}.last_e ELSE {r}.last_e END,
        min_v = {least}({r}.min_v, {x}.min_v),
        max_v = {greatest}({r}.max_v, {x}.max_v),
        sum_v = {r}.sum_v + {x}.sum_v,
        min_g = {least}(COALESCE({r}.min_g, {join}), COALESCE({x}.min_g, {join}), {join}),
        max_g = {greatest}(COALESCE({r}.max_g, {join}), COALESCE({x}.max_g, {join}), {join}),
        sum_vg = {r}.sum_vg + {r}.last_v * {join} + {x}.sum_vg,
        sum_eg = {r}.sum_eg + COALESCE({r}.last_e * {join}, 0) + {x}.sum_eg,
        n_e = {r}.n_e + {x}.n_e,
        exact = CASE WHEN {extends} THEN {r}.exact ELSE 0 END"""


# The SQL types of a summary row's columns (as in migration 11).
_TYPES = ("TEXT", "FLOAT", "BIGINT", *["FLOAT"] * 12, "BIGINT", "INTEGER")
_GROUPS = 1_000  # summary rows per upsert: 17,000 parameters (SQLite allows 32,766)


def add_new(
    conn: Any,
    d: Dialect,
    readings: Sequence[ReadingRow],
    new_ids: set[str],
    prepared: list[tuple[Any, ...]] | None = None,
) -> None:
    """Fold the batch's new readings (`new_ids`) into their hours: summarised per sensor and
    hour in Python (the batch is in memory already; a window query over the just-inserted
    rows cost SQLite several times more), then one upsert for all of them. `prepared`:
    `summaries` of all the readings, made before the transaction (off the one writer's
    path), used when every reading was new."""
    if not new_ids:
        return
    if prepared is None or len(new_ids) != len(readings):
        prepared = summaries(d, [r for r in readings if r.id in new_ids])
    for start in range(0, len(prepared), _GROUPS):
        chunk = prepared[start : start + _GROUPS]
        source, params = d.rows(_TYPES, chunk)
        d.execute(conn, _upsert(d, source), params)


def summaries(d: Dialect, readings: Sequence[ReadingRow]) -> list[tuple[Any, ...]]:
    """The summary rows of `readings`, one per sensor and hour, in one lock order."""
    # The hour as `Dialect.bucket` computes it: SQLite's CAST truncates, PostgreSQL floors.
    cut: Any = int if d.name == "sqlite" else math.floor
    hours: dict[tuple[str, int], list[tuple[float, float, str | None]]] = {}
    for _, _, _, sensor, at, value, unit, _, _ in readings:
        key = (sensor, cut(at / BUCKET))
        points = hours.get(key)
        if points is None:
            hours[key] = [(at, value, unit)]
        else:
            points.append((at, value, unit))
    # Sorted: one lock order for concurrent batches (PostgreSQL), no deadlocks.
    return [_summary(key[0], key[1] * BUCKET, hours[key]) for key in sorted(hours)]


def _summary(
    sensor: str, bucket: float, points: list[tuple[float, float, str | None]]
) -> tuple[Any, ...]:
    """One hour's summary row, as `summary_sql` computes it from the same readings."""
    if len(points) > 1:
        points.sort(key=_TIME_VALUE)
    t, v, unit = points[0]
    first_t, first_v = t, v
    e = _e(v, unit)
    n_e = 0 if e is None else 1
    lo = hi = total = v
    min_g: float | None = None
    max_g: float | None = None
    sum_vg = sum_eg = 0.0
    for t2, v2, unit2 in points[1:]:
        g = t2 - t
        sum_vg += v * g
        if e is not None:
            sum_eg += e * g
        if min_g is None or max_g is None:
            min_g = max_g = g
        elif g < min_g:
            min_g = g
        elif g > max_g:
            max_g = g
        t, v = t2, v2
        e = _e(v2, unit2)
        if e is not None:
            n_e += 1
        total += v2
        if v2 < lo:
            lo = v2
        elif v2 > hi:
            hi = v2
    return (
        sensor, bucket, len(points), first_t, t, first_v, v, e, lo, hi, total, min_g, max_g,
        sum_vg, sum_eg, n_e, 1,
    )  # fmt: skip


_TIME_VALUE = operator.itemgetter(0, 1)  # (a unit may be None: never compared)


def _e(value: float, unit: str | None) -> float | None:
    if unit in CELSIUS_UNITS and value > LOWEST_CELSIUS:
        return math.exp(-ARRHENIUS_RATIO / (value + KELVIN))
    return None


def rebuild(conn: Any, d: Dialect, start: float | None = None, end: float | None = None) -> None:
    """Recompute the hours that hold readings in [start, end) (all when not given)."""
    where = ""
    params: tuple[Any, ...] = ()
    with d.transaction(conn):
        if start is not None and end is not None:
            first = start - start % BUCKET
            last = end - end % BUCKET + BUCKET
            where = " WHERE time >= ? AND time < ?"
            params = (first, last)
            d.execute(conn, "DELETE FROM reading_rollups WHERE bucket >= ? AND bucket < ?", params)
        else:
            d.execute(conn, "DELETE FROM reading_rollups")
        source = f"(SELECT sensor, time, value, unit FROM readings{where})"
        insert = f"INSERT INTO reading_rollups ({_COLUMNS}) {summary_sql(d, source)}"
        d.execute(conn, insert, params)
