"""What flows into and out of the durable log: entries and stored events (rejects: drivers.base)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from runtime import events


@dataclass(slots=True)
class Entry:
    """An event to append: a reading, an alarm, a gateway event. `seq` is assigned on commit."""

    type: str
    subject: str | None
    time: float | None  # the sensor's own time, None when the payload had none
    received: float
    data: dict[str, Any]
    keep: bool = False  # True: never dropped by the size cap (alarms)
    trace: str | None = None  # traceparent of its intake span: first entry of a batch only


@dataclass(slots=True, frozen=True)
class Stored:
    """An entry as committed, with its seq."""

    seq: int
    type: str
    subject: str | None
    time: float | None
    received: float
    data: dict[str, Any]
    trace: str | None = None

    def to_event(self, gateway_id: str) -> events.CloudEvent:
        """The contract's envelope: `time` is the sensor time or else the receive time."""
        data = dict(self.data)
        if self.type == events.READING:
            data["received"] = events.format_time(self.received)
        event = events.edge_event(
            gateway_id,
            self.seq,
            self.type,
            time=self.time if self.time is not None else self.received,
            subject=self.subject,
            data=data,
        )
        if self.trace is not None:
            return dataclasses.replace(event, traceparent=self.trace)
        return event

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Stored:
        seq, type_, subject, time, received, data, trace = row
        return cls(seq, type_, subject, time, received, orjson.loads(data), trace)
