"""Typed rows that cross the storage interface (built by ingest, returned by queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

# An event kept for the live stream: a decoded JSON object, a plain reading as
# central.plain_batch decoded it (a msgspec record of the fields sent), or an event as
# the shared feed carried it (central.stream.Sent); central.stream writes each as JSON.
Envelope = dict[str, Any] | msgspec.Struct


class ReadingRow(NamedTuple):
    """One `org.tracseq.reading` event, flattened for the readings table.

    A tuple, not a dataclass: ingest builds one per reading (tens of thousands a second)
    and a tuple is made without running an `__init__`, and inserted as it is."""

    id: str
    gateway: str
    seq: int
    sensor: str
    time: float
    value: float
    unit: str | None
    quantity: str | None
    received: float | None


@dataclass(slots=True)
class EventRow:
    """Any other event (alarms, gateway, sensor.described, analytics), kept whole."""

    id: str
    source: str
    gateway: str | None
    seq: int | None
    type: str
    subject: str | None
    time: float | None
    received: float | None
    data: dict[str, Any]
    data_json: str
    envelope: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(slots=True)
class Batch:
    """A validated ingest request: every event already checked against the contract."""

    source: str
    gateway: str | None
    now: float
    readings: list[ReadingRow]
    events: list[EventRow]
    envelopes: list[Envelope] = field(repr=False, default_factory=list)
    # The readings' hourly summaries (storage/rollups.py), made before the transaction so
    # the one writer does not have to (used when every reading was new).
    summaries: list[tuple[Any, ...]] | None = field(repr=False, default=None)

    @property
    def size(self) -> int:
        return len(self.readings) + len(self.events)


@dataclass(slots=True)
class Ingested:
    """What a batch changed: counts for the response, new ids for the live stream."""

    accepted: int
    duplicates: int
    new_ids: set[str]
    cleared_offline: list[str]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: a gateway token (kind 'gateway') or an API key (kind 'apikey')."""

    kind: str
    name: str
    role: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class OfflineAlarm:
    """A `gateway_offline` alarm central raised itself."""

    alarm_id: str
    gateway: str
    raised_at: float
    silent_s: float  # seconds since the gateway was last heard from


@dataclass(frozen=True, slots=True)
class Revocation:
    """What revoking a gateway token or an API key did.

    `matches`: how many secrets the given id or name matched (0 unknown, >1 ambiguous;
    nothing is revoked unless exactly 1). `target`: the token's source or the key's name.
    `revoked_at`: when it was revoked (now, or earlier when `already`)."""

    matches: int
    target: str | None = None
    revoked_at: float | None = None
    already: bool = False
