"""The excursion report of a sensor or a site over a period, as one JSON-ready dict.

Built on one reader connection: the figures and excursions from the database
(central/excursions.py), then for each excursion the alarm it raised — or why none (shorter
than the rule's delay, an alarm already active, no rule) — with its acknowledgements, their
signatures and the messages sent about it (the notification delivery log); the data
coverage and offline gaps; the calibration status over the period; and the signatures that
approved this report. `content_sha256` is the SHA-256 of the report's content (everything
but its approvals), so an approval names exactly the figures it approved.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from central import calibration, excursion_buckets, excursions, reports, signatures
from central.storage import read
from runtime.events import format_time

log = logging.getLogger("tracseq.central.reports")


def report_key(kind: str, subject: str, start: float, end: float) -> str:
    """The record id a report's approval signs: `sensor:<id>:<from>:<to>` (RFC 3339)."""
    return f"{kind}:{subject}:{format_time(start)}:{format_time(end)}"


def sensor_report(
    conn: Any, d: Any, sensor: str, start: float, end: float, now: float, *, approvals: bool = True
) -> dict[str, Any] | None:
    found = read.sensors(conn, d, sensor)
    if not found:
        return None
    twin = found[0]
    rules = twin["alarms"] if isinstance(twin["alarms"], dict) else {}
    above, below = reports.thresholds(rules)
    offline = rules.get("offline") if isinstance(rules.get("offline"), dict) else {}
    after = offline.get("after_s") if offline else None
    unit = twin["unit"]
    offline_after = float(after) if isinstance(after, int | float) else None
    limits = excursions.Limits(above, below, unit, offline_after)
    figures = excursion_buckets.compute(conn, d, sensor, start, end, limits)
    alarms = _alarms(conn, d, sensor, start, end)
    listed = [_excursion(e, rules, alarms, unit) for e in figures.excursions]
    ids = [x["alarm_id"] for x in listed if x["alarm_id"]]
    acks = _acks(conn, d, ids)
    sent = _notifications(conn, d, ids)
    for item in listed:
        item["acks"] = acks.get(item["alarm_id"], []) if item["alarm_id"] else []
        item["notifications"] = sent.get(item["alarm_id"], []) if item["alarm_id"] else []
    period = end - start
    gaps = [
        {"from": format_time(a), "to": format_time(b), "duration_s": b - a} for a, b in figures.gaps
    ]
    cal = calibration.status_over(calibration.records(conn, d, sensor), start, end)
    body: dict[str, Any] = {
        "kind": "sensor",
        "sensor": sensor,
        "site": twin["site"],
        "from": format_time(start),
        "to": format_time(end),
        "unit": unit,
        "thresholds": {"above": above, "below": below},
        "delta_h_kj_per_mol": reports.DELTA_H / 1000,
        **figures.report.to_dict(),
        "time_out_of_range_s": sum(x["duration_s"] for x in listed),
        "coverage": figures.report.covered_s / period if period > 0 else None,
        "typical_interval_s": figures.typical_interval_s,
        "gap_threshold_s": figures.gap_threshold_s,
        "gaps": gaps,
        "excursions": listed,
        "calibration": _calibration_json(cal),
    }
    if approvals:
        _approve(conn, d, body, report_key("sensor", sensor, start, end))
    return body


def site_report(
    conn: Any, d: Any, site: str, start: float, end: float, now: float
) -> dict[str, Any] | None:
    ids = [str(r[0]) for r in d.all(conn, "SELECT id FROM sensors WHERE site = ? ORDER BY id",
                                    (site,))]  # fmt: skip
    if not ids:
        return None
    sensors = []
    for sensor in ids:
        one = sensor_report(conn, d, sensor, start, end, now, approvals=False)
        if one is not None:
            sensors.append(one)
    body: dict[str, Any] = {
        "kind": "site",
        "site": site,
        "from": format_time(start),
        "to": format_time(end),
        "sensor_count": len(sensors),
        "excursion_count": sum(len(s["excursions"]) for s in sensors),
        "time_out_of_range_s": sum(s["time_out_of_range_s"] for s in sensors),
        "sensors": sensors,
    }
    _approve(conn, d, body, report_key("site", site, start, end))
    return body


def content_of(body: dict[str, Any]) -> dict[str, Any]:
    """What a report's hash covers: all but its approvals and the hash itself."""
    return {k: v for k, v in body.items() if k not in ("approvals", "content_sha256", "record")}


def _approve(conn: Any, d: Any, body: dict[str, Any], key: str) -> None:
    digest = signatures.sha256(content_of(body))
    body["content_sha256"] = digest
    body["record"] = key
    signed = signatures.of_records(conn, d, "report", [key]).get(key, [])
    body["approvals"] = [
        {**signatures.to_json(s), "approved_sha256": _approved(conn, d, s), "current": False}
        for s in signed
    ]
    for item in body["approvals"]:
        item["current"] = item["approved_sha256"] == digest


def _approved(conn: Any, d: Any, sig: dict[str, Any]) -> str | None:
    row = d.one(conn, "SELECT content FROM signatures WHERE id = ?", (sig["id"],))
    content = orjson.loads(row[0]) if row else {}
    value = content.get("content_sha256") if isinstance(content, dict) else None
    return str(value) if value else None


def _alarms(conn: Any, d: Any, sensor: str, start: float, end: float) -> list[dict[str, Any]]:
    """The sensor's high/low alarms overlapping the period, with their priority."""
    rows = d.all(
        conn,
        """SELECT alarm_id, rule, raised_at, cleared_at, priority FROM alarms
        WHERE subject = ? AND rule IN ('high', 'low') AND raised_at <= ?
        AND (cleared_at IS NULL OR cleared_at >= ?) ORDER BY raised_at""",
        (sensor, end, start - 86_400.0),
    )
    return [
        {
            "alarm_id": str(alarm_id),
            "rule": str(rule),
            "raised_at": float(raised_at),
            "cleared_at": cleared_at,
            "priority": priority,
        }
        for alarm_id, rule, raised_at, cleared_at, priority in rows
    ]


def _excursion(
    exc: excursions.Excursion, rules: dict[str, Any], alarms: list[dict[str, Any]], unit: Any
) -> dict[str, Any]:
    rule = rules.get(exc.rule) if isinstance(rules.get(exc.rule), dict) else None
    delay = rule.get("for_s", 0) if rule else None
    raised = [a for a in alarms if a["rule"] == exc.rule and exc.start <= a["raised_at"] <= exc.end]
    earlier = [
        a
        for a in alarms
        if a["rule"] == exc.rule
        and a["raised_at"] < exc.start
        and (a["cleared_at"] is None or a["cleared_at"] >= exc.start)
    ]
    alarm_id: str | None = None
    priority = None
    if raised or earlier:
        priority = (raised or earlier[-1:])[0].get("priority")
    if raised:
        alarm_id = raised[0]["alarm_id"]
        why = f"raised {raised[0]['raised_at'] - exc.start:.0f} s after the start"
        state = "raised"
    elif earlier:
        alarm_id = earlier[-1]["alarm_id"]
        why = f"an alarm was already active (raised {format_time(earlier[-1]['raised_at'])})"
        state = "already active"
    elif rule is None:
        why, state = "no alarm rule for this limit", "no rule"
    elif isinstance(delay, int | float) and exc.duration_s < delay:
        why = f"shorter than the alarm delay ({delay:g} s)"
        if exc.ongoing:
            why = f"the alarm delay ({delay:g} s) was still running at the end of the data"
        state = "within delay"
    else:
        why, state = "no alarm recorded for this excursion: check the gateway", "missing"
    limit = None if rule is None else rule.get("above" if exc.rule == "high" else "below")
    return {
        "start": format_time(exc.start),
        "end": format_time(exc.end),
        "duration_s": exc.duration_s,
        "peak": exc.peak,
        "rule": exc.rule,
        "alarm_id": alarm_id,
        "acks": [],
        "limit": limit,
        "ongoing": exc.ongoing,
        "readings": exc.count,
        "mkt": exc.mkt(unit),
        "gaps": [{"from": format_time(a), "to": format_time(b)} for a, b in exc.gaps],
        "alarm": {"state": state, "why": why, "delay_s": delay, "priority": priority},
        "notifications": None,
    }


def _acks(conn: Any, d: Any, alarm_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not alarm_ids:
        return {}
    among, params = d.one_of("alarm_id", alarm_ids)
    rows = d.all(
        conn,
        f"""SELECT id, alarm_id, ack_by, comment, at, actor FROM alarm_acks
        WHERE {among} ORDER BY id""",
        params,
    )
    signed = signatures.of_records(conn, d, "alarm_ack", [str(r[0]) for r in rows])
    out: dict[str, list[dict[str, Any]]] = {}
    for ack_id, alarm_id, by, comment, at, actor in rows:
        out.setdefault(str(alarm_id), []).append(
            {
                "id": ack_id,
                "by": by,
                "comment": comment,
                "at": format_time(float(at)),
                "actor": actor,
                "signatures": [signatures.to_json(s) for s in signed.get(str(ack_id), [])],
            }
        )
    return out


def _notifications(conn: Any, d: Any, alarm_ids: list[str]) -> dict[str, list[Any]]:
    """Messages about these alarms in the delivery log (central/notify/), oldest first."""
    out: dict[str, list[Any]] = {}
    for start in range(0, len(alarm_ids), 500):
        chunk = alarm_ids[start : start + 500]
        among, params = d.one_of("na.alarm_id", chunk)
        rows = d.all(
            conn,
            f"""SELECT na.alarm_id, n.channel, n.recipients, n.state, n.sent_at, n.level
            FROM notification_alarms na JOIN notifications n ON n.id = na.notification_id
            WHERE {among} ORDER BY n.id""",
            params,
        )
        for alarm_id, channel, recipients, state, sent_at, level in rows:
            out.setdefault(str(alarm_id), []).append(
                {
                    "channel": channel,
                    "to": orjson.loads(recipients),
                    "state": state,
                    "sent_at": None if sent_at is None else format_time(float(sent_at)),
                    "level": level,
                }
            )
    return out


def _calibration_json(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["records"] = [
        {**r, "performed_at": format_time(r["performed_at"]), "due_at": format_time(r["due_at"])}
        for r in out.get("records", [])
    ]
    out["uncovered"] = [
        {**u, "from": format_time(u["from"]), "to": format_time(u["to"])}
        for u in out.get("uncovered", [])
    ]
    return out
