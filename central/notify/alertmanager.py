"""The Prometheus Alertmanager channel: `POST <url>/api/v2/alerts`.

A raised alarm is posted as a firing alert (labels identify the alarm, annotations carry
the text and the acknowledge link); its clear is posted again with `endsAt`, which resolves
it (so does any later post about a cleared alarm). Alertmanager expires a firing alert
after its `resolve_timeout` (5m by default) unless posted again, so central re-posts it
every minute while the alarm is active, with no configuration (central/notify/refresh.py).
Alertmanager has no acknowledgement: an acknowledgement is not posted, an acknowledged
alarm stays firing until it clears, and its alert carries `acknowledged_by` and
`acknowledge_comment` from then on.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from central.notify.config import Alertmanager
from central.notify.messages import Message, ack_link
from central.notify.webhook import post
from runtime.events import format_time


def alerts(message: Message, base_url: str, policy: str, now: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for alarm in message.alarms:
        labels = {
            "alertname": f"tracseq_{alarm.rule}",
            "alarm_id": alarm.alarm_id,
            "rule": alarm.rule,
            "policy": policy,
        }
        if alarm.sensor:
            labels["sensor"] = alarm.sensor
        if alarm.gateway:
            labels["gateway"] = alarm.gateway
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": {
                "summary": message.subject,
                "description": message.text,
                "acknowledge": ack_link(base_url, alarm.alarm_id),
            },
            "generatorURL": ack_link(base_url, alarm.alarm_id),
        }
        if alarm.acked_by is not None:
            alert["annotations"]["acknowledged_by"] = alarm.acked_by
            alert["annotations"]["acknowledge_comment"] = alarm.ack_comment or ""
        if alarm.since is not None:
            alert["startsAt"] = format_time(alarm.since)
        # Any post about a cleared alarm resolves it: a raise that went out late (retried
        # after the clear) must not fire again what the clear resolved.
        if message.event == "cleared" or alarm.cleared_at is not None:
            alert["endsAt"] = format_time(alarm.cleared_at if alarm.cleared_at else now)
        out.append(alert)
    return out


async def send(
    client: httpx.AsyncClient,
    config: Alertmanager,
    message: Message,
    base_url: str,
    policy: str,
    now: float,
) -> None:
    payload = orjson.dumps(alerts(message, base_url, policy, now))
    url = config.url.rstrip("/") + "/api/v2/alerts"
    await post(client, url, payload, {"Content-Type": "application/json"}, config.timeout)
