"""Fuzzing central's ingest: the validator (`central.ingest.build_batch`) never raises, and
the real endpoint (`POST /api/v1/ingest` on uvicorn) answers 4xx, never 5xx, to any body
a gateway token holder sends; what it stored reads back through the query API without 5xx.

Longer runs: `python -m bench.fuzz --target ingest` (starts its own central).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.ingest import build_batch
from runtime import events as ev
from tests.security.central_server import RunningCentral, central

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GATEWAY = "fuzz-gw"
SOURCE = ev.EDGE_SOURCE_PREFIX + GATEWAY
TYPES = [
    ev.READING, ev.ALARM_RAISED, ev.ALARM_CLEARED, ev.GATEWAY_STARTED, ev.GATEWAY_HEARTBEAT,
    ev.SENSOR_DESCRIBED, ev.ANALYTICS_STATUS, "org.tracseq.other",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson.loads can give
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "2026-11-24T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
            "1970-01-01T00:00:00Z", "", "x" * 513, "s'); DROP TABLE readings;--", "\x00",
        ]
    )
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
EDGE_TIMES = st.sampled_from(
    [
        "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-24T10:00:00.123456789+05:30",
    ]
)  # fmt: skip
TIMES = st.floats(min_value=-6.2e10, max_value=2.5e11).map(ev.format_time) | EDGE_TIMES | scalars


HOSTILE = st.sampled_from(
    [
        2**63 - 1, 2**63, 2**64 - 1, -1, 1e308, -1e308, 1e30, 0.1, "", "x" * 600,
        "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "\x00", "s'; --", None,
    ]
)  # fmt: skip


@st.composite
def gateway_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of our gateway with up to three attributes or data fields replaced."""
    seq = draw(st.integers(0, 2**64 - 1) | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1]))
    type_ = draw(st.sampled_from(TYPES))
    data: dict[str, Any] = {"value": draw(st.floats(-1e6, 1e6)), "unit": "degC"}
    if draw(st.booleans()):
        data["received"] = draw(TIMES)
    if type_ in (ev.ALARM_RAISED, ev.ALARM_CLEARED):
        data.update(alarm_id=f"{GATEWAY}:a{seq}", rule="high")
    elif type_ == ev.ANALYTICS_STATUS:
        data["sensor"] = "ult-F12.temp"
    subject = draw(st.sampled_from(["ult-F12.temp", "s", "a/b", "ü"]))
    event = ev.edge_event(
        GATEWAY, seq, type_, time=draw(st.floats(0, 4e9)), subject=subject, data=data
    )
    out = event.to_dict()
    if draw(st.booleans()):
        out["time"] = draw(EDGE_TIMES)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # often stored: then read
        replaced = draw(HOSTILE | values)
        key = draw(st.sampled_from(["seq", "value", "received", "time", "subject", "id", "type"]))
        if key in ("time", "subject", "id", "type"):
            out[key] = replaced
        else:
            out["data"][key] = replaced
        if key == "seq" and draw(st.booleans()):
            out["id"] = f"{GATEWAY}:{replaced}"
    return out


batches = st.lists(gateway_events(), max_size=4) | st.lists(gateway_events() | values, max_size=6)


def check_validator(items: list[Any]) -> None:
    batch, errors = build_batch(items, SOURCE, time.time())
    bad = {e["index"] for e in errors}
    assert len(batch.readings) + len(batch.events) + len(bad) == len(items)
    for error in errors:
        assert error["field"] is not None and error["message"]


@FUZZ
@given(batches)
def test_the_ingest_validator_never_raises(items: list[Any]) -> None:
    check_validator(items)


# --- the real endpoint --------------------------------------------------------------------

_http: dict[str, Any] = {}


def attach_http(server: RunningCentral) -> None:
    """Point the HTTP property at a running central (a token for GATEWAY, an API key)."""
    _http["url"] = server.url
    _http["token"] = server.token(GATEWAY)
    _http["key"] = server.api_key("fuzz-viewer", "viewer")
    _http["client"] = httpx.Client(timeout=30)


def detach_http() -> None:
    _http.pop("client").close()
    _http.clear()


def _body(items: list[Any], raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps(items, allow_nan=True).encode()  # NaN, Infinity and big ints too


requests = st.tuples(
    batches,
    st.none() | st.binary(max_size=200),
    st.sampled_from([ev.BATCH_MEDIA_TYPE, "application/json", "text/plain", ""]),
    st.sampled_from(["identity", "gzip", "gzip-broken", "br"]),
)


def check_http(case: tuple[list[Any], bytes | None, str, str]) -> None:
    items, raw, media, encoding = case
    body = _body(items, raw)
    headers = {"authorization": f"Bearer {_http['token']}", "content-type": media}
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "gzip-broken":
        body = gzip.compress(body)[:-5]
    if encoding != "identity":
        headers["content-encoding"] = encoding.removesuffix("-broken")
    client: httpx.Client = _http["client"]
    answer = client.post(f"{_http['url']}/api/v1/ingest", content=body, headers=headers)
    assert answer.status_code < 500, (answer.status_code, answer.text, body[:300])
    if answer.status_code != 200:
        return
    viewer = {"authorization": f"Bearer {_http['key']}"}
    for item in items:  # what was stored reads back
        if isinstance(item, dict) and isinstance(item.get("subject"), str) and item["subject"]:
            path = f"/api/v1/sensors/{item['subject']}/readings"
            read = client.get(f"{_http['url']}{path}", headers=viewer, params={"from": "0"})
            assert read.status_code < 500, (path, read.status_code, read.text)
    for path in ("/api/v1/gateways", "/api/v1/sensors", "/api/v1/alarms"):
        read = client.get(f"{_http['url']}{path}", headers=viewer)
        assert read.status_code < 500, (path, read.status_code, read.text)


@pytest.fixture(scope="module")
def live_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with central(tmp_path_factory.mktemp("fuzz-central")) as server:
        attach_http(server)
        try:
            yield server
        finally:
            detach_http()


@FUZZ
@given(case=requests)
def test_the_ingest_endpoint_answers_4xx_never_5xx(
    live_central: RunningCentral, case: tuple[list[Any], bytes | None, str, str]
) -> None:
    check_http(case)


# Findings of the fuzzing, kept as regression tests (docs/security.md lists them).
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": f"{GATEWAY}:{2**64 - 1}", "data": {"seq": 2**64 - 1, "value": 1.0}}, "data.seq"),
        ({"time": "9999-12-31T23:59:59-14:00"}, "time"),
        (
            {"data": {"seq": 1, "value": 1.0, "received": "9999-12-31T23:59:59-14:00"}},
            "data.received",
        ),
    ],
    ids=["seq-over-bigint", "time-after-9999", "received-after-9999"],
)
def test_values_the_database_or_the_api_cannot_hold_are_400(
    live_central: RunningCentral, change: dict[str, Any], field: str
) -> None:
    event = {
        **ev.edge_event(
            GATEWAY, 1, ev.READING, time=1.8e9, subject="s", data={"value": 1.0}
        ).to_dict(),
        **change,
    }
    headers = {"authorization": f"Bearer {_http['token']}", "content-type": ev.BATCH_MEDIA_TYPE}
    answer = _http["client"].post(f"{_http['url']}/api/v1/ingest", json=[event], headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == field


def test_a_query_window_beyond_year_9999_is_400(live_central: RunningCentral) -> None:
    viewer = {"authorization": f"Bearer {_http['key']}"}
    for path in ("/api/v1/sensors/s/readings", "/api/v1/reports/sensors/s"):
        answer = _http["client"].get(f"{_http['url']}{path}", headers=viewer, params={"to": "3e11"})
        assert answer.status_code == 400, answer.text


# What bench/fuzz.py runs for longer: name -> (strategy, property).
CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]] = {
    "ingest.validator": (batches, check_validator),
    "ingest.http": (requests, check_http),
}
