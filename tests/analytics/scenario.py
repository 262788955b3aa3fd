"""Gateway event streams for analytics tests, in compressed time (sensor times in the events)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from runtime.events import GATEWAY_HEARTBEAT, READING, SENSOR_DESCRIBED, CloudEvent, edge_event

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FREEZER_ALARMS = {
    "high": {"above": -70.0, "for_s": 300.0, "clear_below": -72.0},
    "offline": {"after_s": 120.0},
}
Profile = Callable[[float], float]


@dataclass
class Gateway:
    """Numbers events like a gateway's durable log does: `<gateway>:<seq>`."""

    id: str = "lab3-edge-01"
    seq: int = 0
    events: list[CloudEvent] = field(default_factory=list)

    def emit(self, type_: str, time: float, subject: str | None, data: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append(edge_event(self.id, self.seq, type_, time=time, subject=subject,
                                      data=data))  # fmt: skip

    def describe(self, sensor: str, alarms: dict[str, Any], time: float = T0) -> None:
        data = {"kind": "freezer", "quantity": "temperature", "unit": "degC", "site": "lab-3",
                "protocol": "mqtt", "alarms": alarms}  # fmt: skip
        self.emit(SENSOR_DESCRIBED, time, sensor, data)

    def reading(self, sensor: str, time: float, value: float) -> None:
        self.emit(READING, time, sensor, {"value": value, "unit": "degC"})

    def heartbeat(self, time: float) -> None:
        self.emit(GATEWAY_HEARTBEAT, time, None, {"uptime_s": 1.0, "pending": 0})


def freezer(
    gateway: Gateway,
    sensor: str,
    profile: Profile,
    seconds: float,
    *,
    every: float = 5.0,
    noise: float = 0.05,
    seed: int = 1,
    start: float = T0,
) -> None:
    """Readings of `profile(seconds since start)` with a little noise, every `every` s."""
    rng = random.Random(seed)
    for i in range(int(seconds // every)):
        s = i * every
        gateway.reading(sensor, start + s, round(profile(s) + rng.gauss(0.0, noise), 2))


def compressor_failure(onset: float, per_min: float = 1.0) -> Profile:
    """-80 until `onset`, then warming `per_min` degrees per minute."""
    return lambda s: -80.0 + max(0.0, s - onset) * per_min / 60.0


def door_opening(at: float, minutes: float = 3.0) -> Profile:
    """A door open for `minutes`: +6 within 30 s, creeping up, then recovering."""
    duration = minutes * 60.0

    def profile(s: float) -> float:
        if s < at:
            return -80.0
        if s < at + duration:
            return -80.0 + min(6.0, (s - at) / 5.0) + 2.0 * (s - at) / duration
        return -80.0 + 8.0 * math.exp(-(s - at - duration) / 120.0)

    return profile


def publish(redis: Redis, stream: str, events: Iterable[CloudEvent]) -> int:
    """XADD the events in order, as the gateway's Redis publisher does."""
    pipe = redis.pipeline(transaction=False)
    count = 0
    for event in events:
        pipe.xadd(stream, event.to_stream_fields())  # type: ignore[arg-type]
        count += 1
        if count % 1000 == 0:
            pipe.execute()
    pipe.execute()
    return count
