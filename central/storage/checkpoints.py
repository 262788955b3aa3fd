"""The audit trail's signed checkpoints, the reads incremental verification needs, and
the `audit_tampered` alarm (central/trail.py signs and verifies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from central.audit import GENESIS, AuditEntry
from central.notify import outbox
from central.storage.dialect import Dialect
from central.storage.people import _AUDIT_COLUMNS, _AUDIT_LOCK

TAMPERED_RULE = "audit_tampered"


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    id: int
    at: float
    rows: int
    head: str
    signature: str


def head(conn: Any, d: Dialect) -> tuple[int, str]:
    """(highest id, its hash) of the audit trail; (0, 64 zeros) when it is empty. Ids run
    1, 2, 3, ... without gaps, so the highest id is the row count (read from the index)."""
    last = d.one(conn, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
    return (int(last[0]), str(last[1])) if last is not None else (0, GENESIS)


def add_checkpoint(
    conn: Any, d: Dialect, now: float, rows: int, head_hash: str, signature: str
) -> CheckpointRow:
    """Store a signed checkpoint (signed by the caller: the key never reaches the database)."""
    with d.transaction(conn):
        if d.name == "postgresql":
            d.execute(conn, "SELECT pg_advisory_xact_lock(?)", (_AUDIT_LOCK,))
        last = d.one(conn, "SELECT MAX(id) FROM audit_checkpoints")
        id_ = int(last[0] or 0) + 1
        d.execute(
            conn,
            """INSERT INTO audit_checkpoints (id, at, row_count, head, signature)
            VALUES (?, ?, ?, ?, ?)""",
            (id_, now, rows, head_hash, signature),
        )
    return CheckpointRow(id_, now, rows, head_hash, signature)


def checkpoints(conn: Any, d: Dialect, limit: int) -> list[CheckpointRow]:
    """The newest `limit` checkpoints, newest first."""
    rows = d.all(
        conn,
        """SELECT id, at, row_count, head, signature FROM audit_checkpoints
        ORDER BY id DESC LIMIT ?""",
        (limit,),
    )
    return [CheckpointRow(int(i), float(a), int(r), str(h), str(s)) for i, a, r, h, s in rows]


def checkpoint(conn: Any, d: Dialect, id_: int) -> CheckpointRow | None:
    row = d.one(
        conn,
        "SELECT id, at, row_count, head, signature FROM audit_checkpoints WHERE id = ?",
        (id_,),
    )
    if row is None:
        return None
    return CheckpointRow(int(row[0]), float(row[1]), int(row[2]), str(row[3]), str(row[4]))


def audit_from(conn: Any, d: Dialect, first: int) -> list[AuditEntry]:
    """Audit rows with id >= `first`, oldest first."""
    return _entries(
        d.all(conn, f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE id >= ? ORDER BY id", (first,))
    )


def audit_newest(conn: Any, d: Dialect, limit: int) -> list[AuditEntry]:
    """The newest `limit` audit rows, newest first."""
    return _entries(
        d.all(conn, f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY id DESC LIMIT ?", (limit,))
    )


def raise_tampered(conn: Any, d: Dialect, now: float, problems: int) -> str | None:
    """Store an `audit_tampered` alarm (origin central) unless one is active, with its
    notifications scheduled in the same transaction; its id or None."""
    alarm_id = f"central:{TAMPERED_RULE}:{int(now * 1000)}"
    with d.transaction(conn):
        active = d.one(
            conn,
            "SELECT 1 FROM alarms WHERE rule = ? AND origin = 'central' AND cleared_at IS NULL",
            (TAMPERED_RULE,),
        )
        if active is not None:
            return None
        d.execute(
            conn,
            """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, threshold, value,
                raised_at) VALUES (?, 'central', NULL, 'audit', ?, 0, ?, ?)""",
            (alarm_id, TAMPERED_RULE, float(problems), now),
        )
        outbox.enqueue(conn, d, alarm_id, "raised", now)  # notified like any alarm
    return alarm_id


def _entries(rows: list[Any]) -> list[AuditEntry]:
    return [
        AuditEntry(int(i), float(at), str(ac), str(an), t, o, n, str(p), str(h))
        for i, at, ac, an, t, o, n, p, h in rows
    ]
