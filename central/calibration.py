"""Calibration records per sensor, and the `calibration_due` alarm.

A record holds the certificate number, the reference standard, when it was performed and
when the next is due, as-found/as-left at each calibration point, who performed it and the
certificate itself (a PDF of at most `MAX_PDF_BYTES`, stored in the database with its
SHA-256). Creating or editing one is signed (central/signatures.py); an edit raises the
record's `version` and the audit trail keeps the old and new values.

A sensor's calibration is *due* when the due date of its newest record (by date performed)
has passed: central stores a `calibration_due` alarm (origin `central`, subject the sensor,
`threshold` the due date, `value` the seconds overdue), one active per sensor, published on
the live stream like `gateway_offline`, and clears it when a newer calibration is recorded.
Sensors without any record are not calibration-managed and raise nothing. The check runs
after every calibration change and every `CHECK_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from central.notify import outbox
from central.schemas import CalibrationRecord
from central.storage import StorageError
from central.storage.people import append_audit
from runtime.backoff import RetryLog
from runtime.events import ALARM_CLEARED, ALARM_RAISED, CloudEvent, format_time

if TYPE_CHECKING:
    from central.services import Services

log = logging.getLogger("tracseq.central.calibration")

RULE = "calibration_due"
SOURCE = "tracseq-central"
CHECK_SECONDS = 60.0
_COLUMNS = """id, sensor, certificate, reference, performed_at, due_at, performed_by, points,
    notes, attachment_name, attachment_sha256, attachment_size, created, updated, version"""
_NAMES = (
    "id",
    "sensor",
    "certificate",
    "reference",
    "performed_at",
    "due_at",
    "performed_by",
    "points",
    "notes",
    "attachment_name",
    "attachment_sha256",
    "attachment_size",
    "created",
    "updated",
    "version",
)


def _row(row: Any) -> dict[str, Any]:
    item = dict(zip(_NAMES, row, strict=True))
    item["points"] = orjson.loads(item["points"])
    return item


def signed_content(conn: Any, d: Any, cal_id: int) -> dict[str, Any] | None:
    """What a signature over calibration `cal_id` covers: the record as it is now."""
    row = d.one(conn, f"SELECT {_COLUMNS} FROM calibrations WHERE id = ?", (cal_id,))
    if row is None:
        return None
    item = _row(row)
    return {k: item[k] for k in _NAMES if k not in ("created", "updated", "attachment_size")}


def save(
    conn: Any,
    d: Any,
    now: float,
    actor: str,
    sensor: str,
    data: CalibrationRecord,
    cal_id: int | None,
) -> int | None:
    """Insert (cal_id None) or replace a record, audited; None when `cal_id` is unknown.
    The caller signs it in the same transaction."""
    performed, due = data.times()
    pdf = data.pdf()
    points = orjson.dumps([p.model_dump() for p in data.points]).decode()
    values = [
        data.certificate,
        data.reference,
        performed,
        due,
        data.performed_by,
        points,
        data.notes,
    ]
    with d.transaction(conn):
        if cal_id is None:
            row = d.one(
                conn,
                """INSERT INTO calibrations (sensor, certificate, reference, performed_at,
                    due_at, performed_by, points, notes, created, updated, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id""",
                [sensor, *values, now, now],
            )
            cal_id = int(row[0])
            old = None
        else:
            old = signed_content(conn, d, cal_id)
            if old is None or old["sensor"] != sensor:
                return None
            d.execute(
                conn,
                """UPDATE calibrations SET certificate = ?, reference = ?, performed_at = ?,
                    due_at = ?, performed_by = ?, points = ?, notes = ?, updated = ?,
                    version = version + 1 WHERE id = ?""",
                [*values, now, cal_id],
            )
        if pdf is not None:
            d.execute(
                conn,
                """UPDATE calibrations SET attachment = ?, attachment_name = ?,
                    attachment_sha256 = ?, attachment_size = ? WHERE id = ?""",
                (
                    pdf,
                    data.certificate_name or "certificate.pdf",
                    hashlib.sha256(pdf).hexdigest(),
                    len(pdf),
                    cal_id,
                ),
            )
        new = signed_content(conn, d, cal_id)
        action = "calibration.create" if old is None else "calibration.update"
        append_audit(conn, d, now, actor, action, f"{sensor}#{cal_id}", old, new)
    return cal_id


def records(conn: Any, d: Any, sensor: str) -> list[dict[str, Any]]:
    rows = d.all(
        conn,
        f"SELECT {_COLUMNS} FROM calibrations WHERE sensor = ? ORDER BY performed_at DESC, id",
        (sensor,),
    )
    return [_row(r) for r in rows]


def attachment(conn: Any, d: Any, cal_id: int) -> tuple[bytes, str] | None:
    row = d.one(
        conn, "SELECT attachment, attachment_name FROM calibrations WHERE id = ?", (cal_id,)
    )
    if row is None or row[0] is None:
        return None
    return bytes(row[0]), str(row[1])


def status_over(calibrations: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Calibration status over [start, end]: `valid` when records cover the whole period,
    else the uncovered stretches (`overdue` after a due date, `no calibration yet` before
    any record). It depends on the period only (not on today), so a report's content hash
    stays the same while its data does."""
    if not calibrations:
        return {"status": "not managed", "records": [], "uncovered": []}
    spans = sorted((c["performed_at"], c["due_at"]) for c in calibrations)
    uncovered: list[dict[str, Any]] = []
    cursor = start
    last_due: float | None = None
    for performed, due in spans:
        if performed > cursor and cursor < end:
            uncovered.append(
                {
                    "from": cursor,
                    "to": min(performed, end),
                    "why": "overdue" if last_due is not None else "no calibration yet",
                }
            )
        cursor = max(cursor, due)
        last_due = due if last_due is None else max(last_due, due)
    if cursor < end:
        uncovered.append({"from": cursor, "to": end, "why": "overdue"})
    used = [
        {k: c[k] for k in ("id", "certificate", "performed_at", "due_at", "version")}
        for c in calibrations
        if c["performed_at"] <= end and c["due_at"] >= start
    ]
    return {"status": "valid" if not uncovered else "gaps", "records": used, "uncovered": uncovered}


# --- the calibration_due alarm -------------------------------------------------------------


def _due(conn: Any, d: Any, now: float) -> tuple[list[tuple[str, float]], list[str]]:
    """Alarms to raise [(sensor, due_at)] and sensors whose alarm to clear (one transaction)."""
    rows = d.all(
        conn,
        """SELECT c.sensor, c.due_at FROM calibrations c WHERE c.id = (SELECT c2.id FROM
            calibrations c2 WHERE c2.sensor = c.sensor ORDER BY c2.performed_at DESC, c2.id DESC
            LIMIT 1)""",
    )
    active = {
        str(r[0])
        for r in d.all(
            conn,
            """SELECT subject FROM alarms WHERE origin = 'central' AND rule = ?
            AND cleared_at IS NULL""",
            (RULE,),
        )
    }
    raise_ = [(str(s), float(due)) for s, due in rows if due <= now and s not in active]
    clear = [str(s) for s, due in rows if due > now and s in active]
    return raise_, clear


def check_due(conn: Any, d: Any, now: float) -> list[dict[str, Any]]:
    """Raise and clear `calibration_due` alarms; returns the live-stream events."""
    out: list[dict[str, Any]] = []
    with d.transaction(conn):
        raise_, clear = _due(conn, d, now)
        for sensor, due in raise_:
            alarm_id = f"central:{RULE}:{sensor}:{int(due)}"
            gateway = d.one(conn, "SELECT gateway FROM sensors WHERE id = ?", (sensor,))
            cur = d.execute(
                conn,
                """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, threshold,
                    value, raised_at) VALUES (?, 'central', ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING""",
                (alarm_id, gateway[0] if gateway else None, sensor, RULE, due, now - due, now),
            )
            if cur.rowcount:
                outbox.enqueue(conn, d, alarm_id, "raised", now)
                log.warning("calibration of %s overdue since %s", sensor, format_time(due))
                out.append(
                    _event(
                        ALARM_RAISED,
                        alarm_id,
                        sensor,
                        now,
                        threshold=due,
                        value=now - due,
                        since=format_time(due),
                    )
                )
        for sensor in clear:
            rows = d.all(
                conn,
                """SELECT alarm_id, raised_at FROM alarms WHERE origin = 'central'
                AND rule = ? AND subject = ? AND cleared_at IS NULL""",
                (RULE, sensor),
            )
            for alarm_id, raised in rows:
                d.execute(
                    conn,
                    "UPDATE alarms SET cleared_at = ?, duration_s = ? WHERE alarm_id = ?",
                    (now, now - float(raised), alarm_id),
                )
                outbox.enqueue(conn, d, str(alarm_id), "cleared", now)
                out.append(
                    _event(
                        ALARM_CLEARED, str(alarm_id), sensor, now, duration_s=now - float(raised)
                    )
                )
    return out


def _event(type_: str, alarm_id: str, sensor: str, at: float, **data: Any) -> dict[str, Any]:
    return CloudEvent(
        id=f"{alarm_id}:{type_.rsplit('.', 1)[-1]}",
        source=SOURCE,
        type=type_,
        time=at,
        subject=sensor,
        data={"rule": RULE, "alarm_id": alarm_id, **data},
    ).to_dict()


async def check(services: Services) -> int:
    """One round of the calibration check; returns how many events it published."""
    now = services.clock()
    events = await services.storage.run_write(lambda conn, d: check_due(conn, d, now))
    if events:
        services.hub.publish(events)
    return len(events)


async def watch(services: Services) -> None:
    """Check every CHECK_SECONDS, for as long as central runs (owned by its TaskGroup)."""
    retry = RetryLog(log, "checking calibration due dates")
    while True:
        try:
            await check(services)
        except StorageError as exc:  # the database is down: try again next round
            retry.failed(exc)
        else:
            retry.succeeded()
        await asyncio.sleep(CHECK_SECONDS)
