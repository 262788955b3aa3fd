"""What a notification says: one text for people, a short one for SMS, CloudEvents for tools.

Every message names each sensor, its value, the limit, the rule, since when, and the link
that acknowledges it (`<base_url>/alarms?ack=<alarm_id>`; acknowledging still needs sign-in
and a comment). A grouped message lists every alarm in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from runtime.events import (
    ALARM_CLEARED,
    ALARM_RAISED,
    ANALYTICS_PREDICTION,
    CloudEvent,
    edge_source,
    format_time,
)

SHORT_MAX = 160
ALARM_ACKNOWLEDGED = "org.tracseq.alarm.acknowledged"
_HEADLINE = {
    "raised": "ALARM",
    "repeat": "STILL ACTIVE, not acknowledged",
    "acknowledged": "ACKNOWLEDGED",
    "cleared": "CLEARED",
    "prediction": "EARLY WARNING (predicted)",
    "test": "TEST",
}


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    """One alarm (or prediction) as a message shows it."""

    alarm_id: str
    rule: str
    sensor: str | None
    gateway: str | None
    value: float | None
    threshold: float | None
    unit: str | None
    since: float | None
    cleared_at: float | None = None
    acked_by: str | None = None
    ack_comment: str | None = None
    site: str | None = None
    predicted_at: float | None = None
    origin: str = "edge"


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    short: str
    event: str
    alarms: tuple[AlarmInfo, ...]

    def cloudevents(self) -> list[dict[str, Any]]:
        return [cloudevent(self.event, alarm) for alarm in self.alarms]


def ack_link(base_url: str, alarm_id: str) -> str:
    return f"{base_url.rstrip('/')}/alarms?ack={quote(alarm_id, safe=':@')}"


def when(epoch: float | None) -> str:
    if epoch is None:
        return "unknown time"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None, unit: str | None) -> str:
    if value is None:
        return "?"
    text = f"{value:g}"
    return f"{text} {unit}" if unit else text


def _line(alarm: AlarmInfo, event: str) -> str:
    what = alarm.sensor or alarm.gateway or alarm.alarm_id
    where = f" (gateway {alarm.gateway})" if alarm.gateway and alarm.gateway != what else ""
    if alarm.rule == "gateway_offline":
        detail = (
            f"gateway_offline: nothing heard for {_number(alarm.value, 's')} "
            f"(limit {_number(alarm.threshold, 's')}), since {when(alarm.since)}"
        )
    elif alarm.rule == "audit_tampered":
        detail = (
            "audit_tampered: the audit trail failed verification "
            f"({_number(alarm.value, 'problems')}), since {when(alarm.since)}; "
            "see the Audit page and the central log"
        )
    elif alarm.rule == "calibration_due":  # threshold: the due date, value: seconds overdue
        detail = f"calibration_due: calibration overdue since {when(alarm.threshold)}"
    elif event == "prediction":
        detail = (
            f"{alarm.rule}: predicted to pass the limit {_number(alarm.threshold, alarm.unit)} "
            f"at {when(alarm.predicted_at)} (now {_number(alarm.value, alarm.unit)})"
        )
    else:
        unit = f"{alarm.unit}/min" if alarm.rule == "rate" and alarm.unit else alarm.unit
        detail = (
            f"{alarm.rule}: value {_number(alarm.value, unit)}, "
            f"limit {_number(alarm.threshold, unit)}, since {when(alarm.since)}"
        )
    if event == "cleared" and alarm.cleared_at is not None:
        detail += f", cleared {when(alarm.cleared_at)}"
    if event == "acknowledged" and alarm.acked_by:
        detail += f", acknowledged by {alarm.acked_by}: {alarm.ack_comment or ''}".rstrip(": ")
    return f"{what}{where}: {detail}"


def build(event: str, alarms: list[AlarmInfo], base_url: str, policy: str) -> Message:
    """The message about `alarms` (one or a group) for `event`."""
    headline = _HEADLINE.get(event, event.upper())
    first = alarms[0] if alarms else None
    if len(alarms) == 1 and first is not None:
        name = first.sensor or first.gateway or first.alarm_id
        subject = f"[TracSeq] {headline} {first.rule}: {name}"
    else:
        subject = f"[TracSeq] {headline}: {len(alarms)} alarms ({policy})"
    lines = [f"{headline} ({len(alarms)} alarm{'s' if len(alarms) != 1 else ''}, policy {policy})"]
    lines.append("")
    for alarm in alarms:
        lines.append(_line(alarm, event))
        lines.append(f"  acknowledge: {ack_link(base_url, alarm.alarm_id)}")
    lines.append("")
    lines.append("Acknowledging needs sign-in and a comment. Repeats and escalation stop then.")
    text = "\n".join(lines)
    return Message(subject, text, short(event, alarms, base_url), event, tuple(alarms))


def short(event: str, alarms: list[AlarmInfo], base_url: str) -> str:
    """At most 160 characters (one SMS): headline, first sensor, value, limit, ack link."""
    if not alarms:
        return f"TracSeq {_HEADLINE.get(event, event)}"[:SHORT_MAX]
    first = alarms[0]
    name = first.sensor or first.gateway or first.alarm_id
    more = f" +{len(alarms) - 1} more" if len(alarms) > 1 else ""
    if first.rule == "calibration_due":
        due = when(first.threshold)
        head = f"TracSeq {_HEADLINE.get(event, event)} calibration_due {name} since {due}{more}"
    else:
        head = (
            f"TracSeq {_HEADLINE.get(event, event)} {first.rule} {name} "
            f"{_number(first.value, first.unit)} (limit {_number(first.threshold, first.unit)})"
            f"{more}"
        )
    link = " " + ack_link(base_url, first.alarm_id)
    if len(head) + len(link) <= SHORT_MAX:
        return head + link
    return head[:SHORT_MAX]


def cloudevent(event: str, alarm: AlarmInfo) -> dict[str, Any]:
    """The alarm as a CloudEvent (contract "Events"): what a tool behind a webhook parses."""
    if event == "prediction":
        type_ = ANALYTICS_PREDICTION
        data: dict[str, Any] = {
            "sensor": alarm.sensor,
            "rule": alarm.rule,
            "threshold": alarm.threshold,
            "predicted_at": None if alarm.predicted_at is None else format_time(alarm.predicted_at),
        }
    else:
        type_ = {"cleared": ALARM_CLEARED, "acknowledged": ALARM_ACKNOWLEDGED}.get(
            event, ALARM_RAISED
        )
        data = {
            "rule": alarm.rule,
            "threshold": alarm.threshold,
            "value": alarm.value,
            "since": None if alarm.since is None else format_time(alarm.since),
            "alarm_id": alarm.alarm_id,
        }
        if event == "acknowledged":
            data["by"] = alarm.acked_by
            data["comment"] = alarm.ack_comment
    source = (
        "tracseq-central"
        if alarm.origin == "central" or alarm.gateway is None
        else edge_source(alarm.gateway)
    )
    return CloudEvent(
        id=f"{alarm.alarm_id}:{event}",
        source=source,
        type=type_,
        time=alarm.cleared_at if event == "cleared" else alarm.since,
        subject=alarm.sensor,
        data=data,
    ).to_dict()
