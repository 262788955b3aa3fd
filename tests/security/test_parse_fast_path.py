"""The envelope parser's fast path accepts and refuses exactly what the full checks do.

`runtime.events.parse` first checks a JSON-decoded event in one flat expression (for
ingest speed, issue 17); the field-naming checks (`_parse`) remain the definition. Every
input, valid or hostile, must give the same event or the same error.
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
