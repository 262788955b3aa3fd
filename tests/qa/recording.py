"""A recorded fridge day with known excursions, and what the report must say about it.

One reading a minute from T0 (5.0 °C in range; limits: high above 8 for 300 s, low below 2
for 300 s, offline after 900 s):
- minute 60-62: a door opening (9.0, 10.5, 9.2): shorter than the alarm delay, no alarm;
- minute 120-135: a compressor stop (12.0, 13.5 at minute 125): alarm raised 300 s in;
- minute 170-179: too cold (1.0), then the gateway goes offline for an hour (no reading
  at minutes 180-239): the excursion lasts, worst case, until the next reading (minute
  240, back at 5.0), and the gap is listed with it.
"""

from __future__ import annotations

from typing import Any

from runtime import events as ev
from tests.central.conftest import event, reading

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z
END = T0 + 300 * 60
LIMITS = {
    "high": {"above": 8.0, "for_s": 300},
    "low": {"below": 2.0, "for_s": 300},
    "offline": {"after_s": 900},
}


def value_at(minute: int) -> float | None:
    if 60 <= minute <= 62:
        return {60: 9.0, 61: 10.5, 62: 9.2}[minute]
    if 120 <= minute <= 135:
        return 13.5 if minute == 125 else 12.0
    if 170 <= minute <= 179:
        return 1.0
    if 180 <= minute <= 239:
        return None  # offline
    return 5.0


def series() -> tuple[list[float], list[float]]:
    times, values = [], []
    for minute in range(300):
        v = value_at(minute)
        if v is not None:
            times.append(T0 + 60 * minute)
            values.append(v)
    return times, values


def events(gw: str, sensor: str, site: str = "lab-qa") -> tuple[list[dict[str, Any]], str, str]:
    """The recording as CloudEvents; returns (events, high alarm id, low alarm id)."""
    out = [
        event(
            gw,
            1,
            ev.SENSOR_DESCRIBED,
            sensor,
            at=T0 - 60,
            kind="fridge",
            quantity="temperature",
            unit="degC",
            site=site,
            protocol="mqtt",
            alarms=LIMITS,
        )
    ]
    seq = 2
    for t, v in zip(*series(), strict=True):
        out.append(reading(gw, seq, sensor, v, at=t))
        seq += 1
    high_id, low_id = f"{gw}:{sensor}:high:1", f"{gw}:{sensor}:low:1"
    out.append(
        event(
            gw,
            seq,
            ev.ALARM_RAISED,
            sensor,
            at=T0 + 7500,
            rule="high",
            threshold=8.0,
            value=12.0,
            since=ev.format_time(T0 + 7200),
            alarm_id=high_id,
        )
    )
    out.append(
        event(
            gw,
            seq + 1,
            ev.ALARM_CLEARED,
            sensor,
            at=T0 + 8160,
            rule="high",
            value=5.0,
            since=ev.format_time(T0 + 7500),
            alarm_id=high_id,
            duration_s=660.0,
        )
    )
    out.append(
        event(
            gw,
            seq + 2,
            ev.ALARM_RAISED,
            sensor,
            at=T0 + 10500,
            rule="low",
            threshold=2.0,
            value=1.0,
            since=ev.format_time(T0 + 10200),
            alarm_id=low_id,
        )
    )
    return out, high_id, low_id
