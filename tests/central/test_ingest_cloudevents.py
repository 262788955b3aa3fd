"""A stock CloudEvents sender (the cloudevents SDK) posting single events to a real central:
structured mode and binary mode are stored like batches, with the same checks."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent

from runtime import events as ev
from tests.central.conftest import Central, gateway_name, reading


def sdk_event(envelope: dict[str, Any]) -> CloudEvent:
    """The same event built with the SDK, as a lab's own sender would."""
    attributes = {k: v for k, v in envelope.items() if k not in ("data", "specversion")}
    attributes["time"] = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))
    attributes["datacontenttype"] = "application/json"
    return CloudEvent(attributes=attributes, data=envelope["data"])


def post(central: Central, token: str, message: ce_http.HTTPMessage) -> httpx.Response:
    headers = {**message.headers, "authorization": f"Bearer {token}"}
    return central.client.post(
        f"{central.url}/api/v1/ingest", content=message.body, headers=headers
    )


def test_structured_and_binary_single_events_are_stored_once(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    now = time.time()
    first = sdk_event(reading(gw, 1, "ult-1.temp", -80.5, at=now - 2))
    second = sdk_event(reading(gw, 2, "ult-1.temp", -79.25, at=now - 1))
    structured = ce_http.to_structured_event(first)
    binary = ce_http.to_binary_event(second)
    assert structured.headers["content-type"].startswith(ev.SINGLE_MEDIA_TYPE)
    assert "ce-id" in binary.headers
    answers = [post(central, token, m) for m in (structured, binary, structured, binary)]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert [a.json() for a in answers] == [
        {"accepted": 1, "duplicates": 0},
        {"accepted": 1, "duplicates": 0},
        {"accepted": 0, "duplicates": 1},
        {"accepted": 0, "duplicates": 1},
    ]
    assert central.count("readings", "gateway = ?", (gw,)) == 2
    assert central.count("readings", "gateway = ? AND seq = 2 AND value = ?", (gw, -79.25)) == 1


def test_single_events_get_the_same_auth_ownership_and_envelope_checks(central: Central) -> None:
    gw, other = gateway_name(), gateway_name()
    token = central.token(gw)
    mine = sdk_event(reading(gw, 1, "ult-1.temp", -80.0))
    theirs = sdk_event(reading(other, 1, "ult-1.temp", -80.0))
    for to_http in (ce_http.to_structured_event, ce_http.to_binary_event):
        assert post(central, "not-a-token", to_http(mine)).status_code == 401
        assert post(central, token, to_http(theirs)).status_code == 403
        broken = sdk_event(reading(gw, 3, "ult-1.temp", "cold"))
        answer = post(central, token, to_http(broken))
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["field"] == "data.value"
    assert central.count("readings", "gateway = ?", (gw,)) == 0


def test_binary_mode_needs_a_json_body_and_a_batch_must_be_an_array(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    message = ce_http.to_binary_event(sdk_event(reading(gw, 1, "ult-1.temp", -80.0)))
    as_text = {**message.headers, "content-type": "text/plain"}
    answer = post(central, token, ce_http.HTTPMessage(as_text, message.body))
    assert answer.status_code == 415
    assert ev.SINGLE_MEDIA_TYPE in answer.json()["error"]
    structured = ce_http.to_structured_event(sdk_event(reading(gw, 1, "ult-1.temp", -80.0)))
    answer = central.ingest(token, structured.body)  # one object sent as a batch
    assert answer.status_code == 400
    assert "JSON array" in answer.json()["error"]
