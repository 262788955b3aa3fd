"""The small interface every driver shares: typed config in, readings and rejects out.

A driver runs until cancelled, hands what it decodes to a `ReadingSink` (the pipeline,
which normalises and commits to the durable log) and reports its `Health` for /readyz.
Adding a protocol means adding one module that implements `Driver`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgeconfig import Sensor
from runtime.errors import TracseqError
from runtime.health import Health

# Called once the batch is committed (True) or could not be (False); runs in the event
# loop (the log hands each commit's outcomes back in one call).
Committed = Callable[[bool], None]


@dataclass(slots=True)
class Reading:
    """One decoded value, before normalisation (calibration, units, range, time checks)."""

    sensor: Sensor  # the configured sensor (a template for templated ids)
    sensor_id: str  # the concrete id (`ult-F12.temp` for `ult-{freezer}.temp`)
    value: float
    received: float  # gateway receive time, epoch s
    sensor_time: float | None = None  # the payload's own time, epoch s
    unit: str | None = None  # the unit the message states (Tasmota's TempUnit); None: the
    # source's wire_unit, else the sensor's unit (edge.normalize converts)
    extra: dict[str, Any] | None = None  # e.g. {"dup": True} for an MQTT redelivery


@dataclass(slots=True, frozen=True)
class Reject:
    """Input that could not become a reading, kept with the reason (the rejects table)."""

    source: str  # topic, connection/unit/register, serial port
    reason: str
    payload: bytes
    received: float


class ReadingSink(Protocol):
    """Where drivers put what they decode (implemented by edge.pipeline.Pipeline)."""

    def submit(
        self,
        readings: Sequence[Reading],
        rejects: Sequence[Reject] = (),
        on_commit: Committed | None = None,
        *,
        urgent: bool = False,
        unavailable: Sequence[str] = (),
    ) -> None:
        """Normalise and queue for the durable log; `on_commit` after the commit.

        `urgent`: the producer can receive nothing more until this commit (its MQTT
        inflight window is full), so the log must not hold it for its commit window.
        `unavailable`: sensor ids whose message in this batch said they have no value
        (`no_value_states`); a later reading of the sensor says it has one again."""
        ...

    async def put(self, readings: Sequence[Reading], rejects: Sequence[Reject] = ()) -> None:
        """Normalise, commit and return once on disk (raises LogError if it could not)."""
        ...


class Driver(Protocol):
    name: str  # the connection name from the config

    async def run(self, sink: ReadingSink) -> None:
        """Read from the device or broker until cancelled; reconnect by itself."""
        ...

    def health(self) -> Health: ...


class OutputError(TracseqError):
    """A coil could not be written (connection refused, timeout, an exception response)."""


class CoilRefused(OutputError):
    """The device answered the write with an exception response: it heard, and said no."""


class CoilWriter(Protocol):
    """Switches coils on a device (local alarm outputs); built by `drivers.registry`."""

    def where(self) -> str:
        """The device's address, for logs and /readyz."""
        ...

    async def write_coil(self, unit: int, address: int, on: bool) -> None:
        """Set one coil; raises OutputError when the device did not take it."""
        ...

    def close(self) -> None:
        """Drop the writer's own connection, if it has one; the next write opens a new one."""
        ...
