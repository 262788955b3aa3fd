"""Fuzzing the CloudEvents envelope parser: `runtime.events.parse` (HTTP ingest, intake) and
`parse_stream_fields` (the Redis stream, what analytics reads) raise only EnvelopeError.

Inputs: arbitrary JSON values, valid events with attributes replaced or removed, and
arbitrary stream entries (str or bytes fields, not always UTF-8). A parsed event
round-trips through `to_dict` and `to_stream_fields`. Longer runs:
`python -m bench.fuzz --target events`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import events as ev
from runtime.errors import EnvelopeError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ATTRIBUTES = [
    "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data",
    "traceparent",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson.loads can give
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "1.0", "", "x" * 600, "org.tracseq.reading", "tracseq-edge/gw", "application/json",
            "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.1234567891+14:00", "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59", "2026-02-30T25:61:61Z",
            "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        ]
    )
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
VALID = ev.edge_event(
    "gw", 7, ev.READING, time=1_800_000_000.5, subject="s", data={"value": -80.1}
).to_dict()


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    event = dict(VALID)
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=4)):
        if draw(st.booleans()):
            event.pop(name, None)
        else:
            event[name] = draw(values)
    return event


def _deep(depth: int) -> dict[str, Any]:
    node: Any = 1.5
    for level in range(depth):
        node = [node] if level % 2 else {"k": node}
    return {**VALID, "data": {"x": node}}


envelopes = values | mutated_events() | st.integers(0, 1100).map(_deep)


def check_parse(obj: Any) -> None:
    try:
        event = ev.parse(obj)
    except EnvelopeError as exc:
        assert str(exc)
        return
    assert ev.parse(orjson.loads(orjson.dumps(event.to_dict()))).id == event.id
    assert ev.parse_stream_fields(event.to_stream_fields()).id == event.id


@FUZZ
@given(envelopes)
def test_any_json_value_is_an_event_or_an_envelope_error(obj: Any) -> None:
    check_parse(obj)


def _field(value: Any, as_bytes: bool) -> str | bytes:
    if isinstance(value, bytes):
        return value if as_bytes else value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else json.dumps(value)  # big ints, NaN too
    return text.encode() if as_bytes else text


@st.composite
def stream_entries(draw: st.DrawFn) -> dict[Any, Any]:
    """What XREADGROUP may hand a consumer: our fields, or anything someone XADDed."""
    as_bytes = draw(st.booleans())
    fields: dict[str, Any] = {k: str(v) for k, v in VALID.items() if k != "data"}
    fields["data"] = orjson.dumps(VALID["data"]).decode()
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES) | st.text(max_size=5), max_size=4)):
        if draw(st.booleans()):
            fields.pop(name, None)
        else:
            fields[name] = draw(values | st.binary(max_size=20))
    return {_field(k, as_bytes): _field(v, as_bytes) for k, v in fields.items()}


def check_stream(fields: dict[Any, Any]) -> None:
    try:
        event = ev.parse_stream_fields(fields)
    except EnvelopeError as exc:
        assert str(exc)
        return
    assert ev.parse_stream_fields(event.to_stream_fields()) == event


@FUZZ
@given(stream_entries())
def test_any_stream_entry_is_an_event_or_an_envelope_error(fields: dict[Any, Any]) -> None:
    check_stream(fields)


# Findings of the fuzzing, kept as regression tests (docs/security.md lists them).
def test_deeply_nested_data_is_an_envelope_error_not_a_recursion_error() -> None:
    body = orjson.dumps(VALID)[:-2] + b',"x":' + b"[" * 1000 + b"]" * 1000 + b"}}"
    with pytest.raises(EnvelopeError, match="nested deeper than"):
        ev.parse(orjson.loads(body))


def test_a_stream_entry_that_is_not_utf8_is_an_envelope_error() -> None:
    fields = {k.encode(): v.encode() for k, v in ev.parse(VALID).to_stream_fields().items()}
    fields[b"subject"] = b"\xff\xfe"
    with pytest.raises(EnvelopeError, match="not UTF-8"):
        ev.parse_stream_fields(fields)


# What bench/fuzz.py runs for longer: name -> (strategy, property).
CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]] = {
    "events.parse": (envelopes, check_parse),
    "events.stream": (stream_entries(), check_stream),
}
