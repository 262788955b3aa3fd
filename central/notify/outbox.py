"""The notification outbox and delivery log, as plain functions on one connection.

`enqueue` is the hook central/storage/write.py calls inside the transaction that stores an
alarm event, an acknowledgement or a clear: the alarm and the duty to tell someone about it
are committed together, so a crash can lose neither. The planner (central/notify/planner.py)
turns outbox rows into notifications; the sender claims due notifications here:

- `claim_due` marks due rows `sending` with a lease. On PostgreSQL the rows are selected
  `FOR UPDATE SKIP LOCKED`, so several central instances never claim the same message; a
  lease that ran out (the instance died mid-send) makes the row due again.
- A clear is held back while a raise or repeat of its alarm on the same channel is being
  sent or refreshed (a lease on it is live), so a channel never gets the clear first.
- `finish` records the attempt (`notification_attempts`) and the outcome on the row.

This module must not import the rest of central/storage (write.py imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from central.storage.dialect import Dialect

EVENTS = ("raised", "acknowledged", "cleared", "prediction")
_COLUMNS = (
    "id, policy, level, event, channel, recipients, state, attempts, created_at, due_at, "
    "sent_at, error"
)


def enqueue(
    conn: Any, d: Dialect, alarm_id: str, event: str, now: float, detail: Any = None
) -> None:
    """Schedule notifications about `alarm_id` (inside the caller's transaction)."""
    d.execute(
        conn,
        "INSERT INTO notify_outbox (alarm_id, event, at, detail) VALUES (?, ?, ?, ?)",
        (alarm_id, event, now, None if detail is None else orjson.dumps(detail).decode()),
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A notification a sender now holds (state `sending`) until its lease runs out."""

    id: int
    policy: str
    level: int
    event: str
    channel: str
    recipients: list[str]
    attempts: int
    created_at: float
    alarm_ids: list[str]


# A clear waits while a raise or repeat of one of its alarms is being sent on its channel,
# or a refresh (central/notify/refresh.py) holds the sent one: the resolve must come last.
_HELD_BACK = """EXISTS (SELECT 1 FROM notification_alarms c
    JOIN notification_alarms r ON r.alarm_id = c.alarm_id
    JOIN notifications f ON f.id = r.notification_id
    WHERE c.notification_id = n.id AND f.channel = n.channel
        AND f.event IN ('raised', 'repeat') AND f.state IN ('sending', 'sent')
        AND f.claimed_until >= ?)"""


def claim_due(conn: Any, d: Dialect, now: float, lease: float, limit: int) -> list[Claimed]:
    lock = " FOR UPDATE SKIP LOCKED" if d.name == "postgresql" else ""
    with d.transaction(conn):
        rows = d.all(
            conn,
            """SELECT id, policy, level, event, channel, recipients, attempts, created_at
            FROM notifications n WHERE due_at IS NOT NULL AND due_at <= ?
                AND (state IN ('pending', 'failed')
                     OR (state = 'sending' AND claimed_until < ?))
                AND NOT (event = 'cleared' AND """
            + _HELD_BACK
            + """)
            ORDER BY due_at LIMIT ?"""
            + lock,
            (now, now, now, limit),
        )
        out: list[Claimed] = []
        for id_, policy, level, event, channel, recipients, attempts, created in rows:
            d.execute(
                conn,
                "UPDATE notifications SET state = 'sending', claimed_until = ? WHERE id = ?",
                (now + lease, id_),
            )
            out.append(
                Claimed(
                    int(id_),
                    str(policy),
                    int(level),
                    str(event),
                    str(channel),
                    list(orjson.loads(recipients)),
                    int(attempts),
                    float(created),
                    alarm_ids(conn, d, int(id_)),
                )
            )
    return out


def alarm_ids(conn: Any, d: Dialect, notification_id: int) -> list[str]:
    rows = d.all(
        conn,
        "SELECT alarm_id FROM notification_alarms WHERE notification_id = ? ORDER BY alarm_id",
        (notification_id,),
    )
    return [str(r[0]) for r in rows]


def finish(
    conn: Any,
    d: Dialect,
    notification_id: int,
    state: str,
    now: float,
    instance: str,
    *,
    error: str | None = None,
    retry_at: float | None = None,
    attempted: bool = True,
) -> None:
    """Record an attempt's outcome: `sent`, `failed` (retried at `retry_at` unless None) or
    `cancelled` (nothing left to say: every alarm in it was acknowledged)."""
    with d.transaction(conn):
        if attempted:
            d.execute(
                conn,
                """INSERT INTO notification_attempts (notification_id, at, outcome, error,
                    instance) VALUES (?, ?, ?, ?, ?)""",
                (notification_id, now, state, error, instance),
            )
        d.execute(
            conn,
            """UPDATE notifications SET state = ?, attempts = attempts + ?, error = ?,
                due_at = ?, claimed_until = NULL,
                sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
            WHERE id = ?""",
            (
                state,
                1 if attempted else 0,
                error,
                retry_at,
                state,
                now,
                notification_id,
            ),
        )


def create(
    conn: Any,
    d: Dialect,
    *,
    policy: str,
    level: int,
    event: str,
    channel: str,
    recipients: list[str],
    alarm_ids: list[str],
    now: float,
    due: float | None,
    group_until: float | None,
    state: str = "pending",
) -> int:
    row = d.one(
        conn,
        """INSERT INTO notifications (policy, level, event, channel, recipients, state,
            created_at, due_at, group_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (
            policy,
            level,
            event,
            channel,
            orjson.dumps(recipients).decode(),
            state,
            now,
            due,
            group_until,
        ),
    )
    id_ = int(row[0])
    for alarm_id in alarm_ids:
        link(conn, d, id_, alarm_id)
    return id_


def link(conn: Any, d: Dialect, notification_id: int, alarm_id: str) -> None:
    d.execute(
        conn,
        """INSERT INTO notification_alarms (notification_id, alarm_id) VALUES (?, ?)
        ON CONFLICT DO NOTHING""",
        (notification_id, alarm_id),
    )


def listing(conn: Any, d: Dialect, alarm_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The delivery log, newest first (contract: `GET /api/v1/notifications`)."""
    if alarm_id is None:
        rows = d.all(
            conn, f"SELECT {_COLUMNS} FROM notifications ORDER BY id DESC LIMIT ?", (limit,)
        )
    else:
        rows = d.all(
            conn,
            f"""SELECT {_COLUMNS} FROM notifications WHERE id IN (SELECT notification_id
                FROM notification_alarms WHERE alarm_id = ?) ORDER BY id DESC LIMIT ?""",
            (alarm_id, limit),
        )
    out: list[dict[str, Any]] = []
    for row in rows:
        id_, policy, level, event, channel, recipients, state, attempts = row[:8]
        created, due, sent, error = row[8:]
        out.append(
            {
                "id": int(id_),
                "alarm_ids": alarm_ids(conn, d, int(id_)),
                "policy": policy,
                "level": int(level),
                "event": event,
                "channel": channel,
                "to": orjson.loads(recipients),
                # `sending` is a lease, not a state anyone acts on: still pending to them.
                "state": "pending" if state == "sending" else state,
                "attempts": int(attempts),
                "created_at": created,
                "due_at": due,
                "sent_at": sent,
                "error": error,
            }
        )
    return out
