"""Per-sensor judgement: one event in, the analytics events it causes out.

A sensor's whole analytics state (limits, status, trend, health) is one `SensorState`, the
unit that is checkpointed and compared-and-set in Redis. Judgements use the events' own
times, so a backlog replayed hours later gives the same results. A reading older than the
sensor's latest one (out of order, e.g. two instances finishing batches in the other order)
is counted but judges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics.classify import STALE, classify
from analytics.health_checks import Fault, Health
from analytics.limits import Limits, limits_from_described
from analytics.predict import Prediction, Trend
from analytics.settings import Judgement
from runtime.events import (
    ANALYTICS_PREDICTION,
    ANALYTICS_SENSOR_FAULT,
    ANALYTICS_SOURCE_PREFIX,
    ANALYTICS_STATUS,
    READING,
    SENSOR_DESCRIBED,
    CloudEvent,
    format_time,
)


class Rejected(ValueError):
    """An event analytics cannot use; the message names the field."""


@dataclass(slots=True)
class SensorState:
    """Everything analytics knows about one sensor."""

    sensor: str
    gateway: str | None = None
    limits: Limits = field(default_factory=Limits)
    status: str | None = None
    last_time: float | None = None
    last_value: float | None = None
    trend: Trend = field(default_factory=Trend)
    health: Health = field(default_factory=Health)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensor": self.sensor,
            "gateway": self.gateway,
            "limits": self.limits.to_dict(),
            "status": self.status,
            "last_time": self.last_time,
            "last_value": self.last_value,
            "trend": self.trend.to_dict(),
            "health": self.health.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SensorState:
        return cls(
            sensor=raw["sensor"],
            gateway=raw.get("gateway"),
            limits=Limits.from_dict(raw.get("limits") or {}),
            status=raw.get("status"),
            last_time=raw.get("last_time"),
            last_value=raw.get("last_value"),
            trend=Trend.from_dict(raw.get("trend") or {}),
            health=Health.from_dict(raw.get("health") or {}),
        )


@dataclass(slots=True)
class Judge:
    """Applies events to sensor states and builds the resulting analytics events."""

    instance: str
    cfg: Judgement

    def apply(self, state: SensorState, event: CloudEvent) -> list[CloudEvent]:
        """Apply one event of `state.sensor`; raises Rejected for unusable events."""
        if event.type == SENSOR_DESCRIBED:
            try:
                state.limits = limits_from_described(event.data)
            except ValueError as exc:
                raise Rejected(str(exc)) from None
            state.gateway = event.gateway or state.gateway
            return []
        if event.type != READING:
            return []
        value = event.data.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected(f"data.value: must be a number, got {value!r}")
        if event.time is None:
            raise Rejected("time: missing")
        time, value = event.time, float(value)
        state.gateway = event.gateway or state.gateway
        if state.last_time is not None and time <= state.last_time:
            return []
        out: list[CloudEvent] = []
        for fault in state.health.add(time, value, self.cfg):
            out.append(self._fault(state.sensor, fault, event))
        for prediction in state.trend.add(time, value, state.limits, self.cfg, event.id):
            out.append(self._prediction(state.sensor, prediction, event))
        status = classify(
            value, state.limits, state.status, self.cfg.warn_margin, state.trend.episode is not None
        )
        if status != state.status:
            out.append(self._status(state.sensor, status, state.status, value, event.id, time))
            state.status = status
        state.last_time, state.last_value = time, value
        return out

    def check_stale(self, state: SensorState, now: float) -> list[CloudEvent]:
        """`stale` when the sensor has been silent longer than its offline rule (event time)."""
        if state.last_time is None or state.status in (STALE, None):
            return []
        after = state.limits.offline_after or self.cfg.stale_after
        if now - state.last_time <= after:
            return []
        trigger = f"silent-since-{format_time(state.last_time)}"
        event = self._status(
            state.sensor, STALE, state.status, state.last_value, trigger, state.last_time + after
        )
        state.status = STALE
        return [event]

    def _event(
        self, kind: str, type_: str, sensor: str, trigger: str, time: float | None,
        data: dict[str, Any],
    ) -> CloudEvent:  # fmt: skip
        # The id depends only on the sensor, the judgement and the event that caused it, so a
        # re-processed event yields the same id and central stores it once.
        return CloudEvent(
            id=f"{sensor}/{kind}/{trigger}",
            source=ANALYTICS_SOURCE_PREFIX + self.instance,
            type=type_,
            time=time,
            subject=sensor,
            data=data,
        )

    def _status(
        self, sensor: str, status: str, previous: str | None, value: float | None,
        trigger: str, time: float | None,
    ) -> CloudEvent:  # fmt: skip
        data = {"sensor": sensor, "status": status, "previous": previous, "value": value}
        return self._event("status", ANALYTICS_STATUS, sensor, trigger, time, data)

    def _prediction(self, sensor: str, p: Prediction, event: CloudEvent) -> CloudEvent:
        data = {
            "sensor": sensor,
            "rule": p.rule,
            "threshold": p.threshold,
            "predicted_at": None if p.predicted_at is None else format_time(p.predicted_at),
            "slope_per_h": p.slope_per_h,
            "action": p.action,
            "episode": p.episode,
        }
        return self._event("prediction", ANALYTICS_PREDICTION, sensor, event.id, event.time, data)

    def _fault(self, sensor: str, fault: Fault, event: CloudEvent) -> CloudEvent:
        data = {
            "sensor": sensor,
            "fault": fault.fault,
            "since": format_time(fault.since),
            "detail": fault.detail,
            "state": fault.state,
        }
        kind = f"fault-{fault.fault}-{fault.state}"
        return self._event(kind, ANALYTICS_SENSOR_FAULT, sensor, event.id, event.time, data)
