"""The shared live feed's notifications (central/livefeed.py): events packed in order into
payloads PostgreSQL accepts, read back by every instance as the same JSON, an event too
big for one notification sent without its data. Each event's type (the SSE event name)
goes beside the events, so a receiver reads a notification in one decode."""

from __future__ import annotations

from typing import Any

import orjson

from central.livefeed import MAX_PAYLOAD, SharedHub
from central.plain_batch import plain_batch
from central.storage.records import Envelope
from central.stream import attribute, encode
from runtime import events as ev


def _reading(seq: int, note: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"value": -80.0 + seq / 10, "unit": "degC"}
    if note:
        data["note"] = note
    return ev.edge_event(
        "gw-1", seq, ev.READING, time=1.8e9 + seq, subject="s", data=data
    ).to_dict()


def _received(payloads: list[str]) -> list[Envelope]:
    receiver = SharedHub(10_000, "postgresql://x")
    for payload in payloads:
        receiver._receive(payload)
    return [e for _, _, e in receiver._since(0)]


def _round_trip(events: list[Envelope]) -> tuple[list[str], list[Any]]:
    payloads = SharedHub(10_000, "postgresql://unused")._pack(events)
    return payloads, [orjson.loads(encode(e)) for e in _received(payloads)]


def test_events_arrive_in_order_in_payloads_postgresql_accepts() -> None:
    # Sizes that vary (a run of small events, then larger ones) make the packer re-estimate.
    events: list[Envelope] = [_reading(i, "x" * (i % 7) * 150) for i in range(1, 400)]
    payloads, received = _round_trip(events)
    assert received == [orjson.loads(orjson.dumps(e)) for e in events]
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert len(payloads) < 400 / 3  # packed, not one event per notification


def test_a_plain_batch_goes_out_as_it_was_sent() -> None:
    items = [_reading(i) for i in range(1, 251)]
    batch = plain_batch(orjson.dumps(items), ev.edge_source("gw-1"), 0.0)
    assert batch is not None
    _, received = _round_trip(batch.envelopes)
    assert received == items


def test_an_event_too_big_for_a_notification_goes_without_its_data() -> None:
    big = _reading(2, "y" * MAX_PAYLOAD)
    payloads, received = _round_trip([_reading(1), big, _reading(3)])
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert [e["id"] for e in received] == ["gw-1:1", "gw-1:2", "gw-1:3"]
    assert received[1]["data"] == {
        "omitted": "too large for the live stream; read it from the query API"
    }
    assert received[2] == orjson.loads(orjson.dumps(_reading(3)))


def test_each_event_goes_with_its_type_beside_it() -> None:
    plain = plain_batch(orjson.dumps([_reading(1)]), ev.edge_source("gw-1"), 0.0)
    assert plain is not None
    heartbeat = ev.edge_event("gw-1", 2, ev.GATEWAY_HEARTBEAT, time=1.8e9).to_dict()
    big = {**_reading(3, "y" * MAX_PAYLOAD), "type": ev.SENSOR_DESCRIBED}
    events: list[Envelope] = [*plain.envelopes, heartbeat, big, _reading(4)]
    types = [ev.READING, ev.GATEWAY_HEARTBEAT, ev.SENSOR_DESCRIBED, ev.READING]
    payloads = SharedHub(10_000, "postgresql://unused")._pack(events)
    notes = [orjson.loads(p) for p in payloads]
    assert [t for note in notes for t in note["t"]] == types  # a receiver decodes once
    assert all(len(note["t"]) == len(note["e"]) for note in notes)
    received = _received(payloads)
    assert [attribute(e, "type") for e in received] == types  # the SSE event names
    assert [attribute(orjson.loads(encode(e)), "type") for e in received] == types


def test_a_notification_without_types_is_read_from_its_events() -> None:
    # What an instance of the previous release sends during a rolling upgrade.
    heartbeat = ev.edge_event("gw-1", 2, ev.GATEWAY_HEARTBEAT, time=1.8e9).to_dict()
    payload = orjson.dumps({"m": "old-1", "e": [_reading(1), heartbeat]}).decode()
    received = _received([payload])
    assert [attribute(e, "type") for e in received] == [ev.READING, ev.GATEWAY_HEARTBEAT]
    assert [orjson.loads(encode(e)) for e in received] == [_reading(1), heartbeat]


def test_a_notification_whose_types_do_not_match_its_events_is_ignored() -> None:
    payload = orjson.dumps({"m": "x-1", "t": [ev.READING], "e": [_reading(1), _reading(2)]})
    assert _received([payload.decode(), "not json"]) == []
