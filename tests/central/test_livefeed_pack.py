"""The shared live feed's notifications (central/livefeed.py): events packed in order into
payloads PostgreSQL accepts, read back by every instance as the same JSON, an event too
big for one notification sent without its data."""

from __future__ import annotations

from typing import Any

import orjson

from central.livefeed import MAX_PAYLOAD, SharedHub
from central.plain_batch import plain_batch
from central.storage.records import Envelope
from central.stream import encode
from runtime import events as ev


def _reading(seq: int, note: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"value": -80.0 + seq / 10, "unit": "degC"}
    if note:
        data["note"] = note
    return ev.edge_event(
        "gw-1", seq, ev.READING, time=1.8e9 + seq, subject="s", data=data
    ).to_dict()


def _round_trip(events: list[Envelope]) -> tuple[list[str], list[Any]]:
    sender, receiver = SharedHub(10_000, "postgresql://unused"), SharedHub(10_000, "postgresql://x")
    payloads = sender._pack(events)
    for payload in payloads:
        receiver._receive(payload)
    return payloads, [orjson.loads(encode(e)) for _, _, e in receiver._since(0)]


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
