"""Normalisation shared by every driver: a decoded value becomes a log entry or a reject.

Conversion from the unit on the wire (`Reading.unit`, else `source.wire_unit`) to the
sensor's unit, calibration (scale, then offset, in the sensor's unit), and sanity checks
(NaN/inf, the sensor's physical range, the time). A sensor time more than five minutes in
the future or before 2020 is replaced by the receive time; the original is kept in
`data.sensor_time_rejected` so nothing the device sent is lost.
"""

from __future__ import annotations

import math

from drivers.base import Reading, Reject
from edge.entry import Entry
from runtime import events
from runtime.units import convert

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


def normalize(reading: Reading, source: str) -> Entry | Reject:
    """The log entry for `reading`, or a reject naming the sensor and the reason."""
    sensor = reading.sensor
    value = reading.value
    where = f"{reading.sensor_id}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return _reject(reading, source, f"{where}: value {value!r} is not a number")
    if not math.isfinite(value):
        return _reject(reading, source, f"{where}: value {value!r} is not finite")
    value = float(value)
    # The unit the message stated (Tasmota's TempUnit), else the configured wire_unit.
    wire = reading.unit or sensor.source.wire_unit
    if wire is not None and wire != sensor.unit:
        converted = convert(value, wire, sensor.unit)
        if converted is None:
            return _reject(reading, source, f"{where}: cannot convert {wire} to {sensor.unit}")
        value = converted
    # Calibration is in the sensor's unit, like its certificate and its alarm limits.
    value = value * sensor.calibration.scale + sensor.calibration.offset
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
