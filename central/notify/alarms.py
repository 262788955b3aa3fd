"""Reads the sender needs: the alarms a notification is about, and repeats to schedule.

Plain functions on one connection, run through the storage's pools.
"""

from __future__ import annotations

from typing import Any

import orjson

from central.notify import outbox, planner
from central.notify.config import NotifyConfig
from central.notify.messages import AlarmInfo
from central.notify.policy import on_duty
from central.storage.dialect import Dialect
from runtime.events import parse_time


def load(conn: Any, d: Dialect, alarm_ids: list[str]) -> list[AlarmInfo]:
    """The alarms (and predictions) by id, in the order given; unknown ids are left out."""
    out: list[AlarmInfo] = []
    for alarm_id in alarm_ids:
        info = _prediction(conn, d, alarm_id) if alarm_id.startswith("prediction:") else None
        if info is None:
            info = _alarm(conn, d, alarm_id)
        if info is not None:
            out.append(info)
    return out


def _alarm(conn: Any, d: Dialect, alarm_id: str) -> AlarmInfo | None:
    row = d.one(
        conn,
        """SELECT a.rule, a.subject, a.gateway, a.value, a.threshold, s.unit, a.raised_at,
            a.cleared_at, s.site, a.origin FROM alarms a LEFT JOIN sensors s ON s.id = a.subject
        WHERE a.alarm_id = ?""",
        (alarm_id,),
    )
    if row is None:
        return None
    rule, subject, gateway, value, threshold, unit, raised, cleared, site, origin = row
    ack = d.one(
        conn,
        "SELECT ack_by, comment FROM alarm_acks WHERE alarm_id = ? ORDER BY id DESC LIMIT 1",
        (alarm_id,),
    )
    return AlarmInfo(
        alarm_id=alarm_id,
        rule=str(rule),
        sensor=subject,
        gateway=gateway,
        value=value,
        threshold=threshold,
        unit=unit,
        since=raised,
        cleared_at=cleared,
        acked_by=None if ack is None else str(ack[0]),
        ack_comment=None if ack is None else str(ack[1]),
        site=site,
        origin=str(origin),
    )


def _prediction(conn: Any, d: Dialect, alarm_id: str) -> AlarmInfo | None:
    row = d.one(
        conn,
        "SELECT detail FROM notify_outbox WHERE alarm_id = ? ORDER BY id LIMIT 1",
        (alarm_id,),
    )
    if row is None or row[0] is None:
        return None
    data = orjson.loads(row[0])
    sensor = data.get("sensor")
    unit = d.one(conn, "SELECT unit, gateway FROM sensors WHERE id = ?", (sensor,))
    predicted = data.get("predicted_at")
    return AlarmInfo(
        alarm_id=alarm_id,
        rule=str(data.get("rule")),
        sensor=sensor if isinstance(sensor, str) else None,
        gateway=None if unit is None else unit[1],
        value=_number(data.get("value")),
        threshold=_number(data.get("threshold")),
        unit=None if unit is None else unit[0],
        since=_number(data.get("time")),
        predicted_at=_time(predicted),
        origin="analytics",
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_time(value)
    except ValueError:
        return None


def still_due(alarm: AlarmInfo, event: str, level: int) -> bool:
    """Whether a raised/repeat message still has something to say about `alarm`."""
    if event not in ("raised", "repeat"):
        return True
    if alarm.acked_by is not None:
        return False
    return not (alarm.cleared_at is not None and (event == "repeat" or level > 0))


def schedule_repeats(
    conn: Any,
    d: Dialect,
    config: NotifyConfig,
    claimed: outbox.Claimed,
    alarm_ids: list[str],
    now: float,
) -> int:
    """After a raised/repeat message went out: the next repeat of its level, for each alarm
    that is neither acknowledged nor cleared (inside the transaction that records the send)."""
    policy = config.policy(claimed.policy)
    if policy is None or claimed.event not in ("raised", "repeat"):
        return 0
    if claimed.level >= len(policy.levels):
        return 0
    level = policy.levels[claimed.level]
    if level.repeat is None:
        return 0
    due = now + level.repeat
    schedules = [
        config.schedules[t.schedule]
        for t in level.notify
        if t.channel == claimed.channel
        and t.schedule is not None
        and t.schedule in config.schedules
    ]
    if schedules and not any(on_duty(s, due) for s in schedules):
        return 0
    made = 0
    for alarm_id in alarm_ids:
        if planner.stopped(conn, d, alarm_id, "cleared"):
            continue
        made += planner.join_or_create(
            conn,
            d,
            claimed.policy,
            claimed.level,
            "repeat",
            claimed.channel,
            claimed.recipients,
            alarm_id,
            due,
            0.0,
            now,
        )
    return made
