"""Mean kinetic temperature computed by the database (central/excursions.py) against the
USP <1079.2> vectors and the reference in Python (central/reports.py), on SQLite."""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator

import pytest

from central import excursions
from central.reports import summarize
from central.storage.migrations import MIGRATIONS
from central.storage.sqlite import SqliteDialect


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        d = SqliteDialect()
        for migration in MIGRATIONS:
            conn.executescript(migration.sqlite)
        assert d.name == "sqlite"
        yield conn


def load(conn: sqlite3.Connection, sensor: str, times: list[float], values: list[float]) -> None:
    conn.executemany(
        "INSERT INTO readings (id, gateway, seq, sensor, time, value, ingested)"
        " VALUES (?, 'g', ?, ?, ?, ?, 0)",
        [
            (f"{sensor}:{i}", i, sensor, t, v)
            for i, (t, v) in enumerate(zip(times, values, strict=True))
        ],
    )


def figures(
    conn: sqlite3.Connection, sensor: str, end: float, unit: str = "degC"
) -> excursions.Figures:
    limits = excursions.Limits(above=None, below=None, unit=unit)
    return excursions.full_pass(conn, SqliteDialect(), sensor, 0.0, end, limits)


def test_half_the_time_at_20_and_half_at_30_gives_26_26(db: sqlite3.Connection) -> None:
    times = [float(60 * i) for i in range(120)]
    load(db, "s", times, [20.0] * 60 + [30.0] * 60)
    assert figures(db, "s", 7200.0).report.mkt == pytest.approx(26.26, abs=0.005)


def test_constant_temperature_gives_that_temperature(db: sqlite3.Connection) -> None:
    load(db, "s", [float(60 * i) for i in range(10)], [-20.0] * 10)
    assert figures(db, "s", 600.0).report.mkt == pytest.approx(-20.0, abs=1e-9)


def test_kelvin_sensor_gives_kelvin(db: sqlite3.Connection) -> None:
    load(db, "k", [0.0, 60.0], [293.15, 303.15])
    assert figures(db, "k", 120.0, "K").report.mkt == pytest.approx(26.26 + 273.15, abs=0.005)


def test_uneven_intervals_match_the_python_reference(db: sqlite3.Connection) -> None:
    hour = 3600.0
    load(db, "s", [0.0, 3 * hour], [20.0, 30.0])
    by_hand = (
        10_000 / -math.log((3 * math.exp(-10_000 / 293.15) + math.exp(-10_000 / 303.15)) / 4)
        - 273.15
    )
    assert figures(db, "s", 4 * hour).report.mkt == pytest.approx(by_hand, abs=1e-9)
    ref = summarize(
        [0.0, 3 * hour], [20.0, 30.0], end=4 * hour, above=None, below=None, unit="degC"
    )
    got = figures(db, "s", 4 * hour).report.to_dict()
    assert got == pytest.approx(ref.to_dict())


def test_no_mkt_for_other_units(db: sqlite3.Connection) -> None:
    load(db, "rh", [0.0, 60.0], [40.0, 50.0])
    assert figures(db, "rh", 120.0, "%RH").report.mkt is None
