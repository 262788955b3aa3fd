"""Normalisation shared by every driver: a decoded value becomes a log entry or a reject.

Calibration (scale, then offset), unit conversion to the sensor's unit, and sanity checks
(NaN/inf, the sensor's physical range, the time). A sensor time more than five minutes in
the future or before 2020 is replaced by the receive time; the original is kept in
`data.sensor_time_rejected` so nothing the device sent is lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from drivers.base import Reading, Reject
from edge.entry import Entry
from runtime import events

MAX_FUTURE_S = 300.0
EARLIEST_TIME = 1_577_836_800.0  # 2020-01-01T00:00:00Z

# Values a quantity can physically take in a lab; a sensor's `range` narrows it.
_PHYSICAL: dict[str, tuple[float, float]] = {
    "temperature": (-273.15, 1000.0),
    "humidity": (0.0, 100.0),
    "level": (0.0, 100.0),
    "co2": (0.0, 100.0),
    "o2": (0.0, 100.0),
}

_TO_DEGC: dict[str, Callable[[float], float]] = {
    "degC": lambda v: v,
    "C": lambda v: v,
    "°C": lambda v: v,
    "degF": lambda v: (v - 32.0) * 5.0 / 9.0,
    "F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "°F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "K": lambda v: v - 273.15,
}


def convert(value: float, from_unit: str, to_unit: str) -> float | None:
    """`value` in `to_unit`, or None when no conversion is known."""
    if from_unit == to_unit:
        return value
    if to_unit in ("degC", "C", "°C") and from_unit in _TO_DEGC:
        return _TO_DEGC[from_unit](value)
    if to_unit == "degF" and from_unit in _TO_DEGC:
        return _TO_DEGC[from_unit](value) * 9.0 / 5.0 + 32.0
    if to_unit == "K" and from_unit in _TO_DEGC:
        return _TO_DEGC[from_unit](value) + 273.15
    return None


def normalize(reading: Reading, source: str) -> Entry | Reject:
    """The log entry for `reading`, or a reject naming the sensor and the reason."""
    sensor = reading.sensor
    value = reading.value
    where = f"{reading.sensor_id}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return _reject(reading, source, f"{where}: value {value!r} is not a number")
    if not math.isfinite(value):
        return _reject(reading, source, f"{where}: value {value!r} is not finite")
    value = float(value) * sensor.calibration.scale + sensor.calibration.offset
    if reading.unit is not None and reading.unit != sensor.unit:
        converted = convert(value, reading.unit, sensor.unit)
        if converted is None:
            return _reject(
                reading, source, f"{where}: cannot convert {reading.unit} to {sensor.unit}"
            )
        value = converted
    low, high = sensor.range or _PHYSICAL.get(sensor.quantity, (-math.inf, math.inf))
    if sensor.unit in ("degF", "K") and sensor.range is None:
        low, high = -math.inf, math.inf
    if not low <= value <= high:
        return _reject(
            reading, source, f"{where}: value {value:g} {sensor.unit} outside [{low:g}, {high:g}]"
        )
    data: dict[str, object] = {
        "value": value,
        "unit": sensor.unit,
        "quantity": sensor.quantity,
        "kind": sensor.kind,
    }
    if reading.extra:
        data.update(reading.extra)
    time = reading.sensor_time
    if time is not None and not (EARLIEST_TIME <= time <= reading.received + MAX_FUTURE_S):
        data["sensor_time_rejected"] = events.format_time(time) if time > 0 else time
        time = None
    return Entry(events.READING, reading.sensor_id, time, reading.received, data)


def _reject(reading: Reading, source: str, reason: str) -> Reject:
    payload = f"{reading.sensor_id} value={reading.value!r} time={reading.sensor_time!r}"
    return Reject(source=source, reason=reason, payload=payload.encode(), received=reading.received)
