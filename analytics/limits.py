"""A sensor's limits as its `org.tracseq.sensor.described` event tells them (never sensors.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Limits:
    """The alarm rules analytics judges by; None where the sensor has no such rule."""

    unit: str | None = None
    kind: str | None = None
    high: float | None = None
    high_clear: float | None = None
    low: float | None = None
    low_clear: float | None = None
    offline_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "kind": self.kind,
            "high": self.high,
            "high_clear": self.high_clear,
            "low": self.low,
            "low_clear": self.low_clear,
            "offline_after": self.offline_after,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Limits:
        return cls(**{k: raw.get(k) for k in cls.__slots__})


def _number(rule: Any, key: str, where: str) -> float | None:
    if not isinstance(rule, dict) or key not in rule:
        return None
    value = rule[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key}: must be a number, got {value!r}")
    return float(value)


def limits_from_described(data: dict[str, Any]) -> Limits:
    """Limits of a described event's `data`; raises ValueError naming the bad field."""
    alarms = data.get("alarms") or {}
    if not isinstance(alarms, dict):
        raise ValueError("data.alarms: must be an object")
    high = _number(alarms.get("high"), "above", "data.alarms.high")
    low = _number(alarms.get("low"), "below", "data.alarms.low")
    high_clear = _number(alarms.get("high"), "clear_below", "data.alarms.high")
    low_clear = _number(alarms.get("low"), "clear_above", "data.alarms.low")
    unit = data.get("unit")
    kind = data.get("kind")
    return Limits(
        unit=unit if isinstance(unit, str) else None,
        kind=kind if isinstance(kind, str) else None,
        high=high,
        high_clear=high if high_clear is None else high_clear,
        low=low,
        low_clear=low if low_clear is None else low_clear,
        offline_after=_number(alarms.get("offline"), "after_s", "data.alarms.offline"),
    )
