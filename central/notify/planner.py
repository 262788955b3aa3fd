"""From outbox rows to notifications: which policies, levels, recipients and when.

Runs in one transaction per batch of outbox rows (PostgreSQL: under an advisory lock, so
two instances never plan the same row or open two groups for the same recipient):

- `raised` / `prediction`: for every matching policy and level, one notification per
  recipient (e-mail) or per target (webhook, Alertmanager), due at `raise + after`
  (never before now) plus `group_wait`. An alarm whose notification would be due while an
  equal one (same policy, level, channel, recipients) is still open joins it instead:
  a site-wide power cut is one message per recipient listing every sensor.
- `acknowledged`: pending escalations and repeats of the alarm stop (a message is cancelled
  once every alarm in it is acknowledged); everyone already notified hears about the
  acknowledgement when the policy has `also_on: [acknowledged]`.
- `cleared`: repeats and later levels stop; `also_on: [cleared]` tells everyone notified,
  and an Alertmanager that got the alarm always gets it resolved.
A target with a `schedule` is only notified when the notification falls in its windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from central.notify import outbox
from central.notify.config import Level, NotifyConfig, Policy
from central.notify.policy import AlarmFacts, Contact, matching, on_duty, recipients
from central.storage.dialect import Dialect

log = logging.getLogger("tracseq.central.notify")
PLAN_LOCK = 0x7472_6163_6E6F_74  # 'tracnot' (also central/notify/refresh.py)


@dataclass(frozen=True, slots=True)
class Planned:
    rows: int
    notifications: int


def plan(conn: Any, d: Dialect, config: NotifyConfig, now: float, limit: int = 500) -> Planned:
    """Plan up to `limit` outbox rows into notifications, in one transaction."""
    with d.transaction(conn):
        if d.name == "postgresql":
            d.execute(conn, "SELECT pg_advisory_xact_lock(?)", (PLAN_LOCK,))
        rows = d.all(
            conn,
            """SELECT id, alarm_id, event, at, detail FROM notify_outbox WHERE planned IS NULL
            ORDER BY id LIMIT ?""",
            (limit,),
        )
        if not rows:
            return Planned(0, 0)
        contacts = _contacts(conn, d)
        made = 0
        for _id, alarm_id, event, at, detail in rows:
            made += _plan_one(
                conn, d, config, contacts, str(alarm_id), str(event), float(at), detail, now
            )
        last = max(int(r[0]) for r in rows)
        d.execute(
            conn,
            "UPDATE notify_outbox SET planned = ? WHERE planned IS NULL AND id <= ?",
            (now, last),
        )
    return Planned(len(rows), made)


def _plan_one(
    conn: Any,
    d: Dialect,
    config: NotifyConfig,
    contacts: dict[str, Contact],
    alarm_id: str,
    event: str,
    at: float,
    detail: str | None,
    now: float,
) -> int:
    if event == "raised":
        found = _facts(conn, d, alarm_id)
        if found is None:
            return 0
        facts, raised_at = found
        return _plan_levels(conn, d, config, contacts, alarm_id, facts, raised_at, now, "raised")
    if event == "prediction":
        data = orjson.loads(detail) if detail else {}
        sensor = data.get("sensor")
        row = d.one(conn, "SELECT gateway, kind, site FROM sensors WHERE id = ?", (sensor,))
        gateway, kind, site = row if row is not None else (None, None, None)
        facts = AlarmFacts("prediction", data.get("rule"), sensor, gateway, kind, site)
        return _plan_levels(conn, d, config, contacts, alarm_id, facts, at, now, "prediction")
    return _plan_stop(conn, d, config, alarm_id, event, now)


def _plan_levels(
    conn: Any,
    d: Dialect,
    config: NotifyConfig,
    contacts: dict[str, Contact],
    alarm_id: str,
    facts: AlarmFacts,
    raised_at: float,
    now: float,
    event: str,
) -> int:
    made = 0
    for policy in matching(config, facts):
        for index, level in enumerate(policy.levels):
            due = max(raised_at + level.after, now)
            made += schedule_level(
                conn, d, config, contacts, policy, index, level, event, alarm_id, due, now
            )
    return made


def schedule_level(
    conn: Any,
    d: Dialect,
    config: NotifyConfig,
    contacts: dict[str, Contact],
    policy: Policy,
    index: int,
    level: Level,
    event: str,
    alarm_id: str,
    due: float,
    now: float,
) -> int:
    """Add `alarm_id` to one notification per recipient of `level` (joining open groups)."""
    made = 0
    wait = config.defaults.group_wait
    for target in level.notify:
        if target.schedule is not None and not on_duty(config.schedules[target.schedule], due):
            continue
        channel = config.channels[target.channel]
        if channel.smtp is not None:
            batches = [[address] for address in recipients(config, target, contacts)]
            if not batches:
                log.warning("policy %s level %d: no e-mail address to notify", policy.name, index)
        else:
            batches = [recipients(config, target, contacts)]
        for to in batches:
            made += join_or_create(
                conn, d, policy.name, index, event, target.channel, to, alarm_id, due, wait, now
            )
    return made


def join_or_create(
    conn: Any,
    d: Dialect,
    policy: str,
    level: int,
    event: str,
    channel: str,
    to: list[str],
    alarm_id: str,
    due: float,
    wait: float,
    now: float,
) -> int:
    """Join an open notification with the same key due within `wait`, else open one."""
    key = orjson.dumps(to).decode()
    lock = " FOR UPDATE" if d.name == "postgresql" else ""
    row = d.one(
        conn,
        """SELECT id FROM notifications WHERE state = 'pending' AND attempts = 0
            AND policy = ? AND level = ? AND event = ? AND channel = ? AND recipients = ?
            AND group_until >= ? AND due_at <= ? ORDER BY id LIMIT 1"""
        + lock,
        (policy, level, event, channel, key, due, due + wait),
    )
    if row is not None:
        outbox.link(conn, d, int(row[0]), alarm_id)
        return 0
    outbox.create(
        conn,
        d,
        policy=policy,
        level=level,
        event=event,
        channel=channel,
        recipients=to,
        alarm_ids=[alarm_id],
        now=now,
        due=due + wait,
        group_until=due + wait,
    )
    return 1


def _plan_stop(
    conn: Any, d: Dialect, config: NotifyConfig, alarm_id: str, event: str, now: float
) -> int:
    """An acknowledgement or clear: stop what it ends, tell who was told."""
    if event == "acknowledged":
        stopping = "n.event IN ('raised', 'repeat')"
    else:
        stopping = "(n.event = 'repeat' OR (n.event = 'raised' AND n.level > 0))"
    pending = d.all(
        conn,
        f"""SELECT n.id FROM notifications n JOIN notification_alarms l
            ON l.notification_id = n.id
        WHERE l.alarm_id = ? AND n.state IN ('pending', 'failed') AND {stopping}""",
        (alarm_id,),
    )
    for (id_,) in pending:
        if all(stopped(conn, d, other, event) for other in outbox.alarm_ids(conn, d, int(id_))):
            d.execute(
                conn,
                """UPDATE notifications SET state = 'cancelled', due_at = NULL,
                    error = ? WHERE id = ? AND state IN ('pending', 'failed')""",
                (f"stopped: {event}", id_),
            )
    told = d.all(
        conn,
        """SELECT DISTINCT n.policy, n.channel, n.recipients, n.state FROM notifications n
        JOIN notification_alarms l ON l.notification_id = n.id
        WHERE l.alarm_id = ? AND n.state IN ('sent', 'sending')
            AND n.event IN ('raised', 'repeat')""",
        (alarm_id,),
    )
    made = 0
    wait = config.defaults.group_wait
    for policy_name, channel_name, key, state in told:
        policy = config.policy(str(policy_name))
        channel = config.channels.get(str(channel_name))
        wanted = state == "sent" and policy is not None and event in policy.also_on
        if channel is not None and channel.alertmanager is not None:
            # Resolve what Alertmanager holds (it has no acks), also a raise still being
            # posted: outbox.claim_due holds the clear back until that post is done.
            wanted = event == "cleared"
        if not wanted:
            continue
        made += join_or_create(
            conn,
            d,
            str(policy_name),
            0,
            event,
            str(channel_name),
            list(orjson.loads(key)),
            alarm_id,
            now,
            wait,
            now,
        )
    return made


def stopped(conn: Any, d: Dialect, alarm_id: str, why: str) -> bool:
    """Whether nothing more needs saying about `alarm_id` for a stop of kind `why`."""
    if alarm_id.startswith("prediction:"):
        return False
    row = d.one(
        conn,
        """SELECT cleared_at, EXISTS (SELECT 1 FROM alarm_acks k WHERE k.alarm_id = a.alarm_id)
        FROM alarms a WHERE alarm_id = ?""",
        (alarm_id,),
    )
    if row is None:
        return True
    acknowledged = bool(row[1])
    return acknowledged or (why == "cleared" and row[0] is not None)


def _facts(conn: Any, d: Dialect, alarm_id: str) -> tuple[AlarmFacts, float] | None:
    row = d.one(
        conn,
        """SELECT a.gateway, a.subject, a.rule, a.raised_at, s.kind, s.site FROM alarms a
        LEFT JOIN sensors s ON s.id = a.subject WHERE a.alarm_id = ?""",
        (alarm_id,),
    )
    if row is None:
        return None
    gateway, subject, rule, raised_at, kind, site = row
    if rule == "gateway_offline":
        kind = site = None
    facts = AlarmFacts("alarm", rule, subject, gateway, kind, site)
    return facts, float(raised_at) if raised_at is not None else 0.0


def _contacts(conn: Any, d: Dialect) -> dict[str, Contact]:
    rows = d.all(conn, "SELECT name, email, phone FROM users WHERE disabled IS NULL")
    return {str(n): Contact(e, p) for n, e, p in rows}


def contacts(conn: Any, d: Dialect) -> dict[str, Contact]:
    """Users' contact details by name (enabled users only)."""
    return _contacts(conn, d)
