"""Ingest's compiled check of a batch of plain readings (`plain_batch`, issue 17) accepts
only what the full checks (`checked_row`: `events.parse` and the per-type rules) accept,
and stores the very same rows and live-stream envelopes; everything else it leaves to
them, so their error names the index and field. The same check, one event at a time
(`PlainReadings.row_of`), takes the plain readings of a batch that holds other events
too: `build_batch` gives what the full checks give for every event.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.ingest import build_batch, checked_row
from central.plain_batch import PlainReadings, plain_batch
from central.storage.records import Envelope, EventRow, ReadingRow
from central.stream import encode
from runtime import events as ev
from runtime.errors import EnvelopeError
from tests.security.test_fuzz_events import FUZZ, values

GATEWAY = "gw-7"
SOURCE = ev.edge_source(GATEWAY)
NOW = 1_800_000_100.25
AT = 1_800_000_000.123
PLAIN = ev.edge_event(
    GATEWAY,
    7,
    ev.READING,
    time=AT,
    subject="gw-7.freezer",
    data={
        "value": -80.1,
        "unit": "degC",
        "quantity": "temperature",
        "kind": "freezer",
        "received": ev.format_time(AT + 0.5),
    },
).to_dict()
PLAIN_READINGS = PlainReadings.of(SOURCE, NOW)
assert PLAIN_READINGS is not None
ENVELOPE = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype"]
ENVELOPE += ["traceparent"]
DATA = ["seq", "value", "unit", "quantity", "kind", "received", "extra"]
candidates = values | st.sampled_from(
    [
        True, 0, 2**63 - 1, 2**63, -1, 7.0, "gw-7:7", "gw-7:07", "", "x" * 513, SOURCE,
        "tracseq-edge/gw-8", ev.READING, ev.ALARM_RAISED, ev.format_time(AT),
        "2026-02-30T10:00:00.000Z", "9999-12-31T23:59:59.999Z", float("inf"), float("nan"),
        -0.0, 1e308, {"deep": [[[1.0]]]}, [float("inf")], "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    ]
)  # fmt: skip


@st.composite
def readings(draw: st.DrawFn) -> dict[str, Any]:
    """A plain reading with some envelope attributes and data fields replaced or removed."""
    event: dict[str, Any] = {**PLAIN, "data": dict(PLAIN["data"])}
    for name in draw(st.lists(st.sampled_from(ENVELOPE), max_size=3)):
        if draw(st.booleans()):
            event.pop(name, None)
        else:
            event[name] = draw(candidates)
    for name in draw(st.lists(st.sampled_from(DATA), max_size=3)):
        if draw(st.booleans()):
            event["data"].pop(name, None)
        else:
            event["data"][name] = draw(candidates)
    return event


texts = st.none() | st.sampled_from(["degC", "%", "", "température"]) | st.text(max_size=4)
times = st.floats(min_value=ev.MIN_TIME, max_value=ev.MAX_TIME).map(ev.format_time)


@st.composite
def plain_readings(draw: st.DrawFn) -> dict[str, Any]:
    """A plain reading that passes every check, its values and optional fields drawn."""
    seq = draw(st.integers(min_value=0, max_value=2**63 - 1))
    value = draw(
        st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
    )
    event: dict[str, Any] = {**PLAIN, "id": f"gw-7:{seq}", "data": {"seq": seq, "value": value}}
    for name, drawn in (("time", times), ("datacontenttype", st.just(ev.CONTENT_TYPE))):
        if draw(st.booleans()):
            event.pop(name)
        elif draw(st.booleans()):
            event[name] = draw(drawn)
    time = event.get("time")
    for name, drawn in [(n, texts) for n in ("unit", "quantity", "kind")] + [
        ("received", st.none() | times | st.just(time))
    ]:
        if draw(st.booleans()):
            event["data"][name] = draw(drawn)
    return event


def _nested(depth: int) -> Any:
    node: Any = 1.5
    for level in range(depth):
        node = [node] if level % 2 else {"k": node}
    return node


def _full(item: Any) -> object:
    try:
        return checked_row(item, NOW)
    except EnvelopeError as exc:
        return ("error", exc.field)


def _exactly(row: object) -> object:
    """Field values with their types and float bits (-0.0 is not 0.0 here)."""
    assert isinstance(row, tuple)
    return [(type(v), v.hex() if isinstance(v, float) else v) for v in row]


def _body(*items: Any) -> bytes:
    """The JSON a gateway would send (NaN and huge integers too: JSON text can hold them)."""
    return json.dumps(list(items)).encode()


def _sent(event: Envelope) -> object:
    """What the live stream (SSE and the shared feed) sends for an event."""
    return orjson.loads(encode(event))


def _both(body: bytes) -> tuple[object, object]:
    """(plain_batch's rows and envelopes or None, the full checks' rows and envelopes or
    an error) for one body."""
    fast = plain_batch(body, SOURCE, NOW)
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        return fast, "not JSON"
    batch, errors = build_batch(items, SOURCE, NOW)
    if errors:
        return fast, errors
    if fast is None:
        return None, None
    return (
        # The live stream writes each event as it was sent (null fields too, ints stay ints).
        ([_exactly(r) for r in fast.readings], fast.events, [_sent(e) for e in fast.envelopes]),
        ([_exactly(r) for r in batch.readings], batch.events, items),
    )


@FUZZ
@given(readings() | values)
def test_plain_batch_agrees_with_the_full_checks(item: Any) -> None:
    fast, full = _both(_body(item))
    if fast is not None:
        assert fast == full  # the same rows, no other events, the envelopes as sent


def test_a_plain_reading_takes_the_compiled_check() -> None:
    without_time = {k: v for k, v in PLAIN.items() if k != "time"}
    same_times = {**PLAIN, "data": {**PLAIN["data"], "received": PLAIN["time"]}}
    nulls = {**PLAIN, "time": None, "data": {**PLAIN["data"], "unit": None, "kind": None}}
    integer = {**PLAIN, "data": {**PLAIN["data"], "value": -80}}
    for item in (PLAIN, without_time, same_times, nulls, integer):
        fast, full = _both(_body(item))
        assert fast is not None
        assert fast == full
    fast, full = _both(_body(PLAIN, {**PLAIN, "id": "gw-7:8", "data": {**PLAIN["data"], "seq": 8}}))
    assert fast is not None and fast == full


def test_anything_else_in_the_batch_takes_the_full_checks() -> None:
    extra = {**PLAIN, "data": {**PLAIN["data"], "humidity": 41.5}}
    extension = {**PLAIN, "site": "lab-2"}
    raised = ev.edge_event(
        GATEWAY, 8, ev.ALARM_RAISED, time=AT, subject="gw-7.freezer",
        data={"alarm_id": "gw-7:a1", "rule": "high"},
    ).to_dict()  # fmt: skip
    for other in (extra, extension, raised):
        assert plain_batch(_body(PLAIN, other), SOURCE, NOW) is None
        assert not build_batch([PLAIN, other], SOURCE, NOW)[1]  # which accept it
    assert plain_batch(b"[", SOURCE, NOW) is None
    assert plain_batch(_body(PLAIN), "tracseq-analytics/a1", NOW) is None


def test_a_batch_is_the_same_whichever_check_took_each_event() -> None:
    bad_value = {**PLAIN, "id": "gw-7:8", "data": {**PLAIN["data"], "seq": 8, "value": "cold"}}
    raised = ev.edge_event(
        GATEWAY,
        9,
        ev.ALARM_RAISED,
        time=AT,
        subject="gw-7.freezer",
        data={"alarm_id": "gw-7:a1", "rule": "high"},
    ).to_dict()
    batch, errors = build_batch([PLAIN, bad_value, raised], SOURCE, NOW)
    assert errors == [
        {"index": 1, "field": "data.value", "message": "data.value: must be a number, got 'cold'"}
    ]
    assert [_exactly(r) for r in batch.readings] == [_exactly(_full(PLAIN))]
    assert [e.id for e in batch.events] == ["gw-7:9"]


def _with(data: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    return {**PLAIN, **envelope, "data": {**PLAIN["data"], **(data or {})}}


@pytest.mark.parametrize(
    "item",
    [
        _with({"value": float("inf")}), _with({"value": float("nan")}), _with({"value": True}),
        _with({"value": "1"}), _with({"x": float("-inf")}), _with({"x": [[{"y": float("nan")}]]}),
        _with({"seq": True}), _with({"seq": 2**63}, id=f"gw-7:{2**63}"), _with({"seq": 7.0}),
        _with({"seq": -1}, id="gw-7:-1"),
        _with(id="gw-7:07"), _with(id="gw-8:7"), _with(subject=""), _with(subject=3),
        _with({"unit": 1}), _with({"quantity": ["degC"]}), _with({"kind": False}),
        _with({"received": "2026-02-30T10:00:00.000Z"}), _with({"received": 1.5}),
        _with(time="2026-11-24 10:00:00.000Z"), _with(time=1_800_000_000),
        _with(datacontenttype="text/plain"), _with(specversion="1.1"), _with(type=ev.ALARM_RAISED),
        _with(source="tracseq-edge/gw-8"), _with(traceparent="00-" + "A" * 32 + "-" + "b" * 32),
        _with({"x": _nested(40)}),
    ],
)  # fmt: skip
def test_what_the_full_checks_refuse_is_left_to_them(item: dict[str, Any]) -> None:
    assert plain_batch(_body(PLAIN, item), SOURCE, NOW) is None
    assert PLAIN_READINGS.row_of(item) is None
    if item["source"] == SOURCE:
        assert not isinstance(_full(item), ReadingRow)


def _event(seq: int, type_: str, **data: Any) -> dict[str, Any]:
    subject = "gw-7.freezer" if type_ != ev.GATEWAY_HEARTBEAT else None
    return ev.edge_event(GATEWAY, seq, type_, time=AT, subject=subject, data=data).to_dict()


HEARTBEAT = _event(20, ev.GATEWAY_HEARTBEAT, uptime_s=12.5)
RAISED = _event(21, ev.ALARM_RAISED, alarm_id="gw-7:a1", rule="high")
CLEARED = _event(22, ev.ALARM_CLEARED, alarm_id="gw-7:a1", rule="high")
DESCRIBED = _event(23, ev.SENSOR_DESCRIBED, alarms={"high": -70.0}, unit="degC")
FOREIGN_ALARM = _event(24, ev.ALARM_RAISED, alarm_id="gw-8:a1", rule="high")
others = st.sampled_from([HEARTBEAT, RAISED, CLEARED, DESCRIBED, FOREIGN_ALARM])


def _one_by_one(items: list[Any]) -> tuple[object, list[EventRow], list[dict[str, Any]]]:
    """Every event through the full checks alone: (readings, other events, errors)."""
    readings, events, errors = [], [], []
    for index, item in enumerate(items):
        try:
            row = checked_row(item, NOW)
        except EnvelopeError as exc:
            errors.append({"index": index, "field": exc.field, "message": str(exc)})
            continue
        if isinstance(row, ReadingRow):
            readings.append(_exactly(row))
        else:
            events.append(row)
    return readings, events, errors


def _built(items: list[Any]) -> tuple[object, list[EventRow], list[dict[str, Any]]]:
    batch, errors = build_batch(items, SOURCE, NOW)
    assert batch.envelopes is items  # the live stream sends each event as it came
    return [_exactly(r) for r in batch.readings], batch.events, errors


@FUZZ
@given(plain_readings() | readings() | values)
def test_a_plain_reading_alone_gives_the_full_checks_row(item: Any) -> None:
    fast = PLAIN_READINGS.row_of(item)
    if fast is not None:
        full = _full(item)
        assert isinstance(full, ReadingRow)
        assert _exactly(fast) == _exactly(full)


@FUZZ
@given(st.lists(plain_readings() | readings() | others | values, max_size=6))
def test_a_mixed_batch_gives_what_the_full_checks_give_for_each_event(items: list[Any]) -> None:
    assert _built(items) == _one_by_one(items)


def test_the_readings_beside_a_heartbeat_or_an_alarm_take_the_compiled_check() -> None:
    eighth = {**PLAIN, "id": "gw-7:8", "data": {**PLAIN["data"], "seq": 8, "value": -79}}
    bad_value = {**PLAIN, "id": "gw-7:9", "data": {**PLAIN["data"], "seq": 9, "value": "cold"}}
    bad_id = {**PLAIN, "id": "gw-7:09", "data": {**PLAIN["data"], "seq": 9}}
    extension = {**PLAIN, "id": "gw-7:10", "site": "lab-2", "data": {**PLAIN["data"], "seq": 10}}
    nan = {**PLAIN, "id": "gw-7:11", "data": {**PLAIN["data"], "seq": 11, "value": float("nan")}}
    items = [HEARTBEAT, PLAIN, RAISED, eighth, bad_value, CLEARED, bad_id, extension, nan]
    items += [DESCRIBED, FOREIGN_ALARM]
    for plain in (PLAIN, eighth):
        assert PLAIN_READINGS.row_of(plain) is not None  # the compiled check took it
    for other in (HEARTBEAT, RAISED, bad_value, bad_id, extension, nan):
        assert PLAIN_READINGS.row_of(other) is None  # the full checks judge it
    readings, events, errors = _built(items)
    assert (readings, events, errors) == _one_by_one(items)
    assert readings == [_exactly(_full(r)) for r in (PLAIN, eighth, extension)]
    assert [e.id for e in events] == ["gw-7:20", "gw-7:21", "gw-7:22", "gw-7:23"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (4, "data.value"), (6, "id"), (8, "data.value"), (10, "data.alarm_id"),
    ]  # fmt: skip


def test_only_a_gateway_sends_plain_readings() -> None:
    assert PlainReadings.of("tracseq-analytics/a1", NOW) is None
    assert PlainReadings.of("tracseq-edge/" + "g" * 500, NOW) is None  # source over 512
    other = PlainReadings.of(ev.edge_source("gw-8"), NOW)
    assert other is not None and other.row_of(PLAIN) is None  # not its source
    from_analytics = {**PLAIN, "source": "tracseq-analytics/a1"}
    assert _built([from_analytics]) == _one_by_one([from_analytics])
