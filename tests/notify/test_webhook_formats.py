"""Webhook bodies: `json` carries CloudEvents, `text` and `short`; `slack` and `teams` are
what their incoming webhooks accept; the signature is the HMAC-SHA256 of the body."""

from __future__ import annotations

import hashlib
import hmac

from central.notify.config import Webhook
from central.notify.messages import AlarmInfo, build
from central.notify.webhook import body, signature

ALARM = AlarmInfo("gw:ult-1.temp:high:1", "high", "ult-1.temp", "gw", -60.0, -70.0, "degC", 1e9)
MESSAGE = build("raised", [ALARM], "https://t.example", "freezers")


def _hook(fmt: str) -> Webhook:
    return Webhook.model_validate({"url": "https://chat.example/h", "format": fmt})


def test_json_carries_cloudevents_text_and_short() -> None:
    out = body(_hook("json"), MESSAGE, {"policy": "freezers"})
    assert out["alarms"][0]["specversion"] == "1.0"
    assert out["alarms"][0]["source"] == "tracseq-edge/gw"
    assert out["alarms"][0]["data"]["alarm_id"] == ALARM.alarm_id
    assert out["text"] == MESSAGE.text and len(out["short"]) <= 160
    assert out["policy"] == "freezers"


def test_slack_and_teams_bodies() -> None:
    assert body(_hook("slack"), MESSAGE, {}) == {"text": MESSAGE.text}
    teams = body(_hook("teams"), MESSAGE, {})
    assert teams["@type"] == "MessageCard" and teams["title"] == MESSAGE.subject
    assert "ult-1.temp" in teams["text"]


def test_signature_is_hmac_sha256_of_the_body() -> None:
    payload = b'{"a": 1}'
    expected = hmac.new(b"secret", payload, hashlib.sha256).hexdigest()
    assert signature("secret", payload) == f"sha256={expected}"
