"""The queries behind the read API, as plain functions on one connection.

Rows come back as plain dicts with the API's field names; times stay epoch seconds here
and are formatted by the HTTP layer.
"""

from __future__ import annotations

from typing import Any

import orjson

from central.storage.dialect import Dialect
from central.storage.records import Principal

_ALARM_COLUMNS = """alarm_id, origin, gateway, subject, rule, threshold, value, raised_at,
    cleared_at, clear_value, duration_s, priority"""


def principal(conn: Any, d: Dialect, digest: str) -> Principal | None:
    row = d.one(
        conn, "SELECT source FROM tokens WHERE token_hash = ? AND revoked IS NULL", (digest,)
    )
    if row is not None:
        return Principal("gateway", str(row[0]), source=str(row[0]))
    row = d.one(
        conn, "SELECT name, role FROM api_keys WHERE key_hash = ? AND revoked IS NULL", (digest,)
    )
    if row is not None:
        return Principal("apikey", str(row[0]), role=str(row[1]))
    return None


def gateways(conn: Any, d: Dialect) -> list[dict[str, Any]]:
    rows = d.all(
        conn,
        """SELECT id, first_seen, last_seen, last_seq, last_received, lag_s, pending, version,
            config_hash, started_at, stopped_at FROM gateways ORDER BY id""",
    )
    names = (
        "id",
        "first_seen",
        "last_seen",
        "last_seq",
        "last_received",
        "lag_s",
        "pending",
        "version",
        "config_hash",
        "started_at",
        "stopped_at",
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def sensors(conn: Any, d: Dialect, sensor: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE id = ?", (sensor,)) if sensor is not None else ("", ())
    rows = d.all(
        conn,
        f"""SELECT id, gateway, kind, quantity, unit, site, protocol, alarms, described_at,
            last_value, last_time, last_seq, analytics_status FROM sensors {where} ORDER BY id""",
        params,
    )
    names = (
        "id",
        "gateway",
        "kind",
        "quantity",
        "unit",
        "site",
        "protocol",
        "alarms",
        "described_at",
        "last_value",
        "last_time",
        "last_seq",
        "analytics_status",
    )
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["alarms"] = orjson.loads(item["alarms"]) if item["alarms"] else {}
        out.append(item)
    active = d.all(
        conn,
        f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE cleared_at IS NULL ORDER BY raised_at",
    )
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for row in active:
        alarm = _alarm(row)
        by_subject.setdefault(alarm["subject"], []).append(alarm)
    for item in out:
        item["active_alarms"] = by_subject.get(item["id"], [])
    return out


def readings(
    conn: Any, d: Dialect, sensor: str, start: float, end: float, limit: int
) -> list[tuple[float, float]]:
    rows = d.all(
        conn,
        """SELECT time, value FROM readings WHERE sensor = ? AND time >= ? AND time < ?
        ORDER BY time LIMIT ?""",
        (sensor, start, end, limit),
    )
    return [(float(t), float(v)) for t, v in rows]


def buckets(
    conn: Any, d: Dialect, sensor: str, start: float, end: float, step: float
) -> list[tuple[float, float, float, float, int]]:
    """min/avg/max/count per `step` seconds, aggregated by the database."""
    bucket = d.bucket(step)
    rows = d.all(
        conn,
        f"""SELECT {bucket} AS b, MIN(value), AVG(value), MAX(value), COUNT(*) FROM readings
        WHERE sensor = ? AND time >= ? AND time < ? GROUP BY b ORDER BY b""",
        (sensor, start, end),
    )
    return [(float(b), float(lo), float(avg), float(hi), int(n)) for b, lo, avg, hi, n in rows]


def series(
    conn: Any, d: Dialect, sensor: str, start: float, end: float
) -> tuple[list[float], list[float]]:
    """All (time, value) of a sensor in a window, in time order, for reports."""
    cur = d.execute(
        conn,
        "SELECT time, value FROM readings WHERE sensor = ? AND time >= ? AND time < ?"
        " ORDER BY time",
        (sensor, start, end),
    )
    times: list[float] = []
    values: list[float] = []
    for t, v in cur.fetchall():
        times.append(float(t))
        values.append(float(v))
    return times, values


def alarms(conn: Any, d: Dialect, active_only: bool, limit: int) -> list[dict[str, Any]]:
    where = "WHERE cleared_at IS NULL" if active_only else ""
    rows = d.all(
        conn,
        f"SELECT {_ALARM_COLUMNS} FROM alarms {where} ORDER BY raised_at DESC LIMIT ?",
        (limit,),
    )
    out = [_alarm(row) for row in rows]
    if out:
        ids = [a["alarm_id"] for a in out]
        among, params = d.one_of("alarm_id", ids)
        acks = d.all(
            conn,
            f"""SELECT alarm_id, id, ack_by, comment, at, actor FROM alarm_acks
            WHERE {among} ORDER BY id""",
            params,
        )
        by_alarm: dict[str, list[dict[str, Any]]] = {}
        for alarm_id, ack_id, by, comment, at, actor in acks:
            by_alarm.setdefault(alarm_id, []).append(
                {"id": ack_id, "by": by, "comment": comment, "at": at, "actor": actor}
            )
        for alarm in out:
            alarm["acks"] = by_alarm.get(alarm["alarm_id"], [])
    return out


def analytics(conn: Any, d: Dialect, sensor: str, limit: int) -> list[dict[str, Any]]:
    """The newest analytics events (predictions, status, sensor faults) about a sensor."""
    rows = d.all(
        conn,
        """SELECT id, source, type, time, data FROM events
        WHERE subject = ? AND type LIKE 'org.tracseq.analytics.%' ORDER BY time DESC LIMIT ?""",
        (sensor, limit),
    )
    names = ("id", "source", "type", "time", "data")
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for item in out:
        item["data"] = orjson.loads(item["data"])
    return out


def silent_gateways(conn: Any, d: Dialect, cutoff: float) -> list[str]:
    """Gateways heard from before `cutoff` but not since, without an active offline alarm."""
    rows = d.all(
        conn,
        """SELECT id FROM gateways g WHERE last_seen < ? AND NOT EXISTS (SELECT 1 FROM alarms a
            WHERE a.rule = 'gateway_offline' AND a.gateway = g.id AND a.cleared_at IS NULL)""",
        (cutoff,),
    )
    return [str(r[0]) for r in rows]


def _alarm(row: Any) -> dict[str, Any]:
    names = (
        "alarm_id",
        "origin",
        "gateway",
        "subject",
        "rule",
        "threshold",
        "value",
        "raised_at",
        "cleared_at",
        "clear_value",
        "duration_s",
        "priority",
    )
    item = dict(zip(names, row, strict=True))
    item["state"] = "active" if item["cleared_at"] is None else "cleared"
    return item
