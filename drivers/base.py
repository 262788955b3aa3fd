"""The small interface every driver shares: typed config in, readings and rejects out.

A driver runs until cancelled, hands what it decodes to a `ReadingSink` (the pipeline,
which normalises and commits to the durable log) and reports its `Health` for /readyz.
Adding a protocol means adding one module that implements `Driver`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from edge.config import Sensor
from edge.entry import Reject

# Called once the batch is committed (True) or could not be (False); runs in the log's
# writer thread: hand work back to the event loop with loop.call_soon_threadsafe.
Committed = Callable[[bool], None]


@dataclass(slots=True)
class Reading:
    """One decoded value, before normalisation (calibration, units, range, time checks)."""

    sensor: Sensor  # the configured sensor (a template for templated ids)
    sensor_id: str  # the concrete id (`ult-F12.temp` for `ult-{freezer}.temp`)
    value: float
    received: float  # gateway receive time, epoch s
    sensor_time: float | None = None  # the payload's own time, epoch s
    unit: str | None = None  # the unit on the wire when it differs from the sensor's
    extra: dict[str, Any] | None = None  # e.g. {"dup": True} for an MQTT redelivery


class ReadingSink(Protocol):
    """Where drivers put what they decode (implemented by edge.pipeline.Pipeline)."""

    def submit(
        self,
        readings: Sequence[Reading],
        rejects: Sequence[Reject] = (),
        on_commit: Committed | None = None,
    ) -> None:
        """Normalise and queue for the durable log; `on_commit` after the commit."""
        ...

    async def put(self, readings: Sequence[Reading], rejects: Sequence[Reject] = ()) -> None:
        """Normalise, commit and return once on disk (raises LogError if it could not)."""
        ...


State = Literal["starting", "connected", "disconnected", "degraded", "stopped"]


@dataclass(slots=True)
class Health:
    """A component's state for /readyz: ready when connected."""

    state: State = "starting"
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == "connected"


class Driver(Protocol):
    name: str  # the connection name from the config

    async def run(self, sink: ReadingSink) -> None:
        """Read from the device or broker until cancelled; reconnect by itself."""
        ...

    def health(self) -> Health: ...
