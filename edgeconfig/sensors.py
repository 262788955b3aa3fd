"""`sensors[]`: a sensor, its alarm rules and calibration."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from edgeconfig.base import PLACEHOLDER, Duration, Kind, Model
from edgeconfig.sources import Source

Priority = Literal["critical", "warning"]


def default_priority(kind: str, rule: str) -> Priority:
    """critical for high/low/offline on freezers and LN2; warning otherwise (rate: warning)."""
    if rule in ("high", "low", "offline") and kind in ("freezer", "ln2"):
        return "critical"
    return "warning"


class HighRule(Model):
    above: float
    for_: Duration = Field(default=0.0, alias="for")
    clear_below: float | None = None
    priority: Priority | None = None  # filled from the sensor's kind when not given

    @model_validator(mode="after")
    def _hysteresis(self) -> HighRule:
        if self.clear_below is not None and self.clear_below > self.above:
            raise ValueError(f"clear_below ({self.clear_below}) must not be above ({self.above})")
        return self

    @property
    def clear(self) -> float:
        return self.above if self.clear_below is None else self.clear_below


class LowRule(Model):
    below: float
    for_: Duration = Field(default=0.0, alias="for")
    clear_above: float | None = None
    priority: Priority | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> LowRule:
        if self.clear_above is not None and self.clear_above < self.below:
            raise ValueError(f"clear_above ({self.clear_above}) must not be below ({self.below})")
        return self

    @property
    def clear(self) -> float:
        return self.below if self.clear_above is None else self.clear_above


class RateRule(Model):
    rise_per_minute: float = Field(gt=0)
    window: Duration = 300.0
    for_: Duration = Field(default=0.0, alias="for")
    priority: Priority | None = None


class OfflineRule(Model):
    after: Duration
    priority: Priority | None = None

    @field_validator("after")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("after must be longer than 0s")
        return value


class Alarms(Model):
    high: HighRule | None = None
    low: LowRule | None = None
    rate: RateRule | None = None
    offline: OfflineRule | None = None

    def describe(self) -> dict[str, dict[str, float | str]]:
        """The rules as the contract's `sensor.described` event shows them (`for_s`, `after_s`)."""
        out: dict[str, dict[str, float | str]] = {}
        for name in ("high", "low", "rate", "offline"):
            rule = getattr(self, name)
            if rule is None:
                continue
            fields = rule.model_dump(exclude_none=True)
            if "for_" in fields:
                fields["for_s"] = fields.pop("for_")
            if "after" in fields:
                fields["after_s"] = fields.pop("after")
            if "window" in fields:
                fields["window_s"] = fields.pop("window")
            out[name] = fields
        return out


class Calibration(Model):
    offset: float = 0.0
    scale: float = 1.0


class Sensor(Model):
    id: str = Field(max_length=128)
    kind: Kind
    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    unit: str
    source: Source
    alarms: Alarms = Alarms()
    calibration: Calibration = Calibration()
    range: tuple[float, float] | None = None  # physically possible values; outside = rejected
    site: str | None = None  # defaults to the gateway's site

    @model_validator(mode="before")
    @classmethod
    def _priorities(cls, data: Any) -> Any:
        """Each rule without `priority` gets the default of the sensor's kind."""
        if not isinstance(data, dict):
            return data
        alarms, kind = data.get("alarms"), data.get("kind")
        if not isinstance(alarms, dict) or not isinstance(kind, str):
            return data
        filled = {
            name: {**rule, "priority": default_priority(kind, name)}
            if isinstance(rule, dict) and "priority" not in rule
            else rule
            for name, rule in alarms.items()
        }
        return {**data, "alarms": filled}

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._{}-]+", value):
            raise ValueError(f"invalid sensor id {value!r}: letters, digits, . _ - and {{name}}")
        return value

    @property
    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.id)

    @property
    def templated(self) -> bool:
        return bool(self.placeholders)
