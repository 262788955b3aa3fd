"""Mean kinetic temperature and time weighting, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from central.reports import mean_kinetic_temperature, summarize, weights


def test_constant_temperature_gives_that_temperature() -> None:
    assert mean_kinetic_temperature([25.0] * 10) == pytest.approx(25.0, abs=1e-9)


def test_half_the_time_at_20_and_half_at_30_gives_26_26() -> None:
    # ΔH/R = 83144 / 8.3144 = 10,000 K:
    # MKT = 10000 / -ln((e^(-10000/293.15) + e^(-10000/303.15)) / 2) - 273.15 = 26.26 °C
    assert mean_kinetic_temperature([20.0, 30.0]) == pytest.approx(26.26, abs=0.005)


def test_uneven_intervals_are_time_weighted() -> None:
    hour = 3600.0
    # 20 °C at t=0 holds 3 h, 30 °C at t=3 h holds 1 h until the report's end at 4 h.
    report = summarize(
        [0.0, 3 * hour], [20.0, 30.0], end=4 * hour, above=25.0, below=None, unit="degC"
    )
    by_hand = (
        10_000 / -math.log((3 * math.exp(-10_000 / 293.15) + 1 * math.exp(-10_000 / 303.15)) / 4)
        - 273.15
    )
    assert report.mkt == pytest.approx(by_hand, abs=1e-9)
    assert report.mkt == pytest.approx(23.64, abs=0.01)
    assert report.time_weighted_mean == pytest.approx(22.5)
    assert report.mean == pytest.approx(25.0)  # the plain mean ignores the intervals
    assert report.time_above_s == pytest.approx(hour)


def test_many_even_readings_half_at_20_half_at_30() -> None:
    times = [float(t * 60) for t in range(120)]
    values = [20.0] * 60 + [30.0] * 60
    report = summarize(times, values, end=120 * 60.0, above=None, below=None, unit="degC")
    assert report.mkt == pytest.approx(26.26, abs=0.005)
    assert report.covered_s == pytest.approx(7200.0)


def test_a_dropout_counts_as_at_most_ten_intervals() -> None:
    times = [0.0, 60.0, 120.0, 120.0 + 86_400.0, 120.0 + 86_460.0]
    assert weights(times, end=None) == [60.0, 60.0, 600.0, 60.0, 60.0]


def test_kelvin_sensor_report_is_in_kelvin() -> None:
    report = summarize([0.0, 60.0], [293.15, 303.15], end=120.0, above=None, below=None, unit="K")
    assert report.mkt == pytest.approx(26.26 + 273.15, abs=0.005)


def test_fahrenheit_sensor_report_is_in_fahrenheit() -> None:
    report = summarize([0.0, 60.0], [68.0, 86.0], end=120.0, above=None, below=None, unit="degF")
    assert report.mkt == pytest.approx(26.26 * 9 / 5 + 32, abs=0.01)


def test_other_quantities_have_no_mkt() -> None:
    report = summarize([0.0, 60.0], [40.0, 50.0], end=120.0, above=None, below=45.0, unit="%RH")
    assert report.mkt is None
    assert report.time_below_s == pytest.approx(60.0)


def test_no_readings_gives_an_empty_report() -> None:
    report = summarize([], [], end=None, above=None, below=None, unit="degC")
    assert report.count == 0 and report.mkt is None
