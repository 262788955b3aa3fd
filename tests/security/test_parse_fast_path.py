"""The envelope parser's fast paths accept and refuse exactly what the full checks do.

`runtime.events.parse` first checks a JSON-decoded event in one flat expression and
`parse_time` reads format_time's own form with a cached second (both for ingest speed,
issue 17); the field-naming checks (`_parse`, `_parse_time`) remain the definition. Every
input, valid or hostile, must give the same event (bit-identical times) or the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import events as ev
from runtime.errors import EnvelopeError
from tests.security.test_fuzz_events import FUZZ, VALID, envelopes, values


def _outcome(parse: Any, obj: Any) -> object:
    try:
        return parse(obj)
    except EnvelopeError as exc:
        return ("error", exc.field, str(exc))


@st.composite
def data_changed(draw: st.DrawFn) -> dict[str, Any]:
    """A valid reading whose data gets extra, replaced or nested fields."""
    data = dict(VALID["data"])
    for key in draw(st.lists(st.sampled_from(["value", "seq", "unit", "x", "received"]))):
        data[key] = draw(values)
    return {**VALID, "data": data}


@FUZZ
@given(envelopes | data_changed())
def test_parse_agrees_with_the_full_checks(obj: Any) -> None:
    assert _outcome(ev.parse, obj) == _outcome(ev._parse, obj)


class _Str(str):
    """A str subclass: not what JSON decoding gives, so the full checks judge it."""


@pytest.mark.parametrize(
    "obj",
    [
        {**VALID, "specversion": _Str("1.0")},
        {**VALID, "data": {"value": float("nan")}},
        {**VALID, "data": {"value": float("inf")}},
        {**VALID, "data": None},
        {**VALID, "data": {"deep": [[[1.0], {"k": -0.0}]]}},
        {**VALID, "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        {**VALID, "traceparent": "00-" + "A" * 32 + "-" + "b" * 16 + "-01"},
        {**VALID, "datacontenttype": "text/plain"},
        {**VALID, "type": "org.tracseq." + "x" * 501},
        {**VALID, "time": "9999-12-31T23:59:59.999Z"},
        {**VALID, "time": "2026-02-30T10:00:00.000Z"},
    ],
)
def test_edge_cases_agree_with_the_full_checks(obj: Any) -> None:
    assert _outcome(ev.parse, obj) == _outcome(ev._parse, obj)


def _time_outcome(parse: Any, text: Any) -> object:
    try:
        return parse(text)
    except ValueError as exc:
        return ("error", str(exc))


millis_times = st.floats(min_value=-6.2e10, max_value=2.53e11).map(ev.format_time)
odd_times = st.sampled_from(
    [
        "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.000Z", "0001-01-01T00:00:00.000Z",
        "2026-02-30T10:00:00.000Z", "2026-11-24T24:00:00.000Z", "2026-11-24T10:00:00.1x3Z",
        "2026-11-24T10:00:00.\u0663\u0664\u0665Z", "2026-11-24T10:00:00.\u00b2\u00b3\u00b9Z",
        "\u0662\u0660\u0662\u0666-11-24T10:00:00.123Z", "2026-11-24T10:00:00,123Z",
        "2026-11-24 10:00:00.123Z", "2026-11-24T10:00:00.123z",
    ]
)  # fmt: skip


@FUZZ
@given(millis_times | odd_times | st.text(max_size=26))
def test_parse_time_agrees_with_the_full_checks(text: str) -> None:
    fast, full = _time_outcome(ev.parse_time, text), _time_outcome(ev._parse_time, text)
    assert fast == full
    if isinstance(fast, float):  # bit-identical, not merely close
        assert fast.hex() == full.hex()  # type: ignore[union-attr]
