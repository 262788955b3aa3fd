"""The report from hourly summaries (kept at ingest) says what the full pass over every
reading says, on recorded data with known excursions, delivered as a gateway does it:
in batches, the last ones late (a sync backlog after an outage), one of them into an hour
central has summarised already."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from central import excursion_buckets, excursions
from central.storage import open_storage, rollups
from tests.central.conftest import Central, gateway_name, reading
from tests.qa import recording as rec

HOURS = 8
END = rec.T0 + HOURS * 3600


def value_at(minute: int) -> float | None:
    """The recorded day (door opening, compressor stop, cold then offline), then a high
    excursion across the hour at minute 360 (peak 14.0 at minute 361)."""
    if minute < 300:
        return rec.value_at(minute)
    if 355 <= minute <= 366:
        return 14.0 if minute == 361 else 12.0
    return 5.0 + (minute % 7) * 0.1


def _readings(gw: str, sensor: str, minutes: range) -> list[dict[str, Any]]:
    out = []
    for m in minutes:
        v = value_at(m)
        if v is not None:
            out.append(reading(gw, 2 + m, sensor, v, at=rec.T0 + 60 * m))
    return out


def _run(central: Central, fn: Callable[[Any, Any], Any]) -> Any:
    async def go() -> Any:
        storage = open_storage(central.db, time.time)
        try:
            return await storage.run_read(fn)
        finally:
            await storage.close()

    return asyncio.run(go())


def _both(central: Central, sensor: str, start: float, end: float) -> tuple[Any, Any]:
    limits = excursions.Limits(above=8.0, below=2.0, unit="degC", offline_after=900.0)

    def read(conn: Any, d: Any) -> tuple[Any, Any]:
        return (
            excursion_buckets.compute(conn, d, sensor, start, end, limits),
            excursions.full_pass(conn, d, sensor, start, end, limits),
        )

    return _run(central, read)  # type: ignore[no-any-return]


def _same(got: excursions.Figures, ref: excursions.Figures) -> None:
    assert got.typical_interval_s == ref.typical_interval_s
    assert got.gap_threshold_s == ref.gap_threshold_s
    assert got.gaps == ref.gaps
    a, b = got.report, ref.report
    assert (a.count, a.min, a.max) == (b.count, b.min, b.max)
    for key in ("mean", "time_weighted_mean", "covered_s", "time_above_s", "time_below_s", "mkt"):
        x, y = getattr(a, key), getattr(b, key)
        assert x == (y if y is None else pytest.approx(y, rel=1e-12, abs=1e-9)), key
    assert len(got.excursions) == len(ref.excursions)
    for x, y in zip(got.excursions, ref.excursions, strict=True):
        assert (x.rule, x.start, x.end, x.peak, x.count, x.ongoing, x.gaps) == (
            y.rule, y.start, y.end, y.peak, y.count, y.ongoing, y.gaps,
        )  # fmt: skip
        assert x.weight == pytest.approx(y.weight, rel=1e-12)
        assert x.mkt("degC") == pytest.approx(y.mkt("degC"), rel=1e-12)


def test_report_from_hourly_summaries_equals_the_full_pass(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, _, _ = rec.events(gw, sensor)
    described = batch[0]
    token = central.token(gw)
    withheld = range(400, 404)  # hour 6: they arrive after the rest of that hour
    batches = [
        [described, *_readings(gw, sensor, range(0, 170))],
        _readings(gw, sensor, range(170, 330)),  # into hour 2 (cold), across the outage
        [r for r in _readings(gw, sensor, range(330, 480)) if r["data"]["seq"] - 2 not in withheld],
        _readings(gw, sensor, withheld),  # late, inside an hour summarised already
    ]
    for body in batches:
        assert central.ingest(token, body).status_code == 200
    for start, end in [
        (rec.T0, END),  # whole hours
        (rec.T0 + 1830.0, END - 1234.0),  # first and last hour cut
        (rec.T0 + 5 * 3600, rec.T0 + 7 * 3600),  # the excursion across the hour alone
        (rec.T0 + 7000.0, rec.T0 + 7500.0),  # inside an excursion
        (END + 3600, END + 7200),  # no data
    ]:
        got, ref = _both(central, sensor, start, end)
        _same(got, ref)
    got, _ = _both(central, sensor, rec.T0, END)
    across = got.excursions[-1]
    assert (across.start, across.end, across.peak) == (rec.T0 + 355 * 60, rec.T0 + 367 * 60, 14.0)
    assert [x.rule for x in got.excursions] == ["high", "high", "low", "high"]
    assert got.gaps == [(rec.T0 + 10740, rec.T0 + 14400)]


def test_ingest_keeps_the_summaries_the_readings_give(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, _, _ = rec.events(gw, sensor)
    token = central.token(gw)
    first = [batch[0], *_readings(gw, sensor, range(0, 90))]
    assert central.ingest(token, first).status_code == 200
    later = _readings(gw, sensor, range(90, 200))
    assert central.ingest(token, later[10:]).status_code == 200  # appends to hour 1
    assert central.ingest(token, later[:10]).status_code == 200  # lands inside hour 1
    assert central.ingest(token, later[:10]).status_code == 200  # resent: nothing changes

    def read(conn: Any, d: Any) -> tuple[list[Any], list[Any]]:
        columns = "bucket, n, first_t, last_t, min_v, max_v, min_g, max_g, sum_v, sum_vg, exact"
        stored = d.all(
            conn, f"SELECT {columns} FROM reading_rollups WHERE sensor = ? ORDER BY bucket",
            (sensor,),
        )  # fmt: skip
        source = "(SELECT sensor, time, value, unit FROM readings WHERE sensor = ?)"
        fresh = d.all(conn, f"{rollups.summary_sql(d, source)} ORDER BY b", (sensor,))
        return stored, fresh

    stored, fresh = _run(central, read)
    assert [float(r[0]) for r in stored] == [rec.T0, rec.T0 + 3600, rec.T0 + 7200]
    assert [int(r[10]) for r in stored] == [1, 0, 1]  # hour 1 had readings land inside it
    for row, ref in zip(stored, fresh, strict=True):
        # bucket, n, first/last time, min/max value: what the readings give, exactly
        assert list(row[:6]) == [ref[1], ref[2], ref[3], ref[4], ref[8], ref[9]]
        assert row[8] == pytest.approx(ref[10], rel=1e-12)
        if row[10]:  # exact: the intervals too (an appended batch included)
            assert list(row[6:8]) == [ref[11], ref[12]]
            assert row[9] == pytest.approx(ref[13], rel=1e-12)


@pytest.mark.parametrize("jittered_hours", [range(HOURS), range(2, 3)])
def test_jittered_intervals_give_the_same_typical_interval(
    central: Central, jittered_hours: range
) -> None:
    """Intervals that jitter around the median: the hours' shortest and longest intervals
    do not prove it, so those hours are read (one hour) or the median is sorted out (all)."""
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, _, _ = rec.events(gw, sensor)
    body = [batch[0]]
    for m in range(HOURS * 60):
        v = value_at(m)
        jitter = ((m * 37) % 11 - 5) * 0.013 if m // 60 in jittered_hours else 0.0
        if v is not None:
            body.append(reading(gw, 2 + m, sensor, v, at=rec.T0 + 60 * m + jitter))
    assert central.ingest(central.token(gw), body).status_code == 200
    for start, end in [(rec.T0, END), (rec.T0 + 1830.0, END - 1234.0)]:
        got, ref = _both(central, sensor, start, end)
        _same(got, ref)
        assert len(got.excursions) == 4
