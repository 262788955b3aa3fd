"""Per-sensor reports: min/max/mean, time above/below thresholds, mean kinetic temperature.

Readings are weighted by the time they represent (sample-and-hold): each value holds until
the next reading, so uneven intervals count by their length, not their number. A gap longer
than ten typical intervals is a dropout and counts as only ten intervals; the last reading
holds for at most one typical interval, and never past the report's end.

Mean kinetic temperature (USP <1079.2>, ICH Q1A), time-weighted:
    MKT = (ΔH/R) / -ln( Σ wᵢ·exp(-ΔH/(R·Tᵢ)) / Σ wᵢ )   with Tᵢ in kelvin,
    ΔH = 83.144 kJ/mol and R = 8.3144 J/(mol·K), so ΔH/R = 10,000 K.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from runtime import units

DELTA_H = 83_144.0  # J/mol
GAS_CONSTANT = 8.3144  # J/(mol·K)
KELVIN = 273.15
GAP_FACTOR = 10.0


@dataclass(frozen=True, slots=True)
class Report:
    count: int
    min: float | None
    max: float | None
    mean: float | None
    time_weighted_mean: float | None
    covered_s: float
    time_above_s: float | None
    time_below_s: float | None
    mkt: float | None  # in the sensor's unit (degC, degF or K); None for other quantities

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weights(times: list[float], end: float | None = None) -> list[float]:
    """Seconds each reading stands for (see the module docstring)."""
    n = len(times)
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    typical = statistics.median(gaps) or max(gaps) or 1.0
    cap = typical * GAP_FACTOR
    out = [min(gap, cap) for gap in gaps]
    last = typical if end is None else max(0.0, min(typical, end - times[-1]))
    out.append(last)
    if sum(out) <= 0:
        return [1.0] * n
    return out


def mean_kinetic_temperature(
    celsius: list[float], w: list[float] | None = None, delta_h: float = DELTA_H
) -> float:
    """MKT in °C of temperatures in °C, each weighted by `w` (equal weights by default)."""
    if not celsius:
        raise ValueError("no temperatures")
    if w is None:
        w = [1.0] * len(celsius)
    ratio = delta_h / GAS_CONSTANT
    # exp(-ratio/T) underflows for nothing realistic, but scale by the coldest term anyway.
    exponents = [-ratio / (c + KELVIN) for c in celsius]
    top = max(exponents)
    total = sum(w)
    acc = sum(wi * math.exp(e - top) for wi, e in zip(w, exponents, strict=True)) / total
    return ratio / -(math.log(acc) + top) - KELVIN


def summarize(
    times: list[float],
    values: list[float],
    *,
    end: float | None,
    above: float | None,
    below: float | None,
    unit: str | None,
) -> Report:
    """The report of one sensor's readings (already in time order)."""
    if not values:
        return Report(0, None, None, None, None, 0.0, None, None, None)
    w = weights(times, end)
    covered = sum(w)
    weighted = sum(v * wi for v, wi in zip(values, w, strict=True)) / covered
    mkt: float | None = None
    if unit is not None and units.canonical(unit) is not None:  # degC, degF or K
        celsius = [units.convert(v, unit, "degC") or 0.0 for v in values]
        mkt = units.convert(mean_kinetic_temperature(celsius, w), "degC", unit)
    return Report(
        count=len(values),
        min=min(values),
        max=max(values),
        mean=sum(values) / len(values),
        time_weighted_mean=weighted,
        covered_s=covered if len(values) > 1 else 0.0,
        time_above_s=None
        if above is None
        else sum(wi for v, wi in zip(values, w, strict=True) if v > above),
        time_below_s=None
        if below is None
        else sum(wi for v, wi in zip(values, w, strict=True) if v < below),
        mkt=mkt,
    )


def thresholds(alarms: dict[str, Any]) -> tuple[float | None, float | None]:
    """(high `above`, low `below`) from a sensor.described `alarms` object."""
    high = alarms.get("high") if isinstance(alarms, dict) else None
    low = alarms.get("low") if isinstance(alarms, dict) else None
    return _number(high, "above"), _number(low, "below")


def _number(rule: Any, key: str) -> float | None:
    if not isinstance(rule, dict):
        return None
    value = rule.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
