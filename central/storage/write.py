"""The ingest transaction and the offline alarms, as plain functions on one connection.

A batch is stored in ONE transaction: readings and events are inserted with their id as
unique key (duplicates ignored by the database), then only the events that were new
update the digital twin, the alarm log and the gateway's record. An alarm raised or
cleared, an acknowledgement and a prediction also schedule their notifications in the same
transaction (`outbox.enqueue`, central/notify/outbox.py): stored and scheduled, or neither.
The gateway's `last_seen` is refreshed by every request (a resend is a sign of life). The
new readings are folded into their hourly summaries (storage/rollups.py) in it too.

Gateway isolation: a sensor belongs to the first gateway that wrote it, an alarm to the
gateway its id starts with. The upserts never change another gateway's sensor or alarm,
and before commit `_foreign` looks up what the batch's new events touched: a reading,
`sensor.described` or `alarm.raised` for another gateway's sensor, or an alarm event for
another's alarm, raises `ForeignData` and the whole transaction is rolled back (ingest
answers 400 naming each such event, and nothing is scheduled). Moving a sensor is an admin
action (`move_sensor`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from central.notify import outbox
from central.storage import rollups
from central.storage.dialect import Dialect
from central.storage.records import Batch, EventRow, Ingested, OfflineAlarm, ReadingRow
from runtime import events as ev
from runtime.errors import TracseqError

log = logging.getLogger("tracseq.central.storage")

OFFLINE_RULE = "gateway_offline"
_TWIN_CHUNK = 1000  # sensors per twin upsert: 7,000 parameters (SQLite allows 32,766)
_TWIN_TYPES = ("TEXT", "TEXT", "TEXT", "TEXT", "FLOAT", "FLOAT", "BIGINT")
_OWNED_SUBJECT = frozenset({ev.SENSOR_DESCRIBED, ev.ALARM_RAISED})
_ALARMS = frozenset({ev.ALARM_RAISED, ev.ALARM_CLEARED})
_CHUNK = 500  # ids per IN (...) list: below every SQLite build's variable limit


class ForeignData(TracseqError):
    """A batch touched another gateway's sensors or alarms; nothing of it was stored."""

    def __init__(self, gateway: str, sensors: dict[str, str], alarms: dict[str, str]) -> None:
        self.gateway = gateway
        self.sensors = sensors  # sensor id -> the gateway that owns it
        self.alarms = alarms  # alarm id -> its owner ('central' for central's own alarms)
        named = [*(f"sensor {k!r} ({v})" for k, v in sensors.items()), *alarms]
        super().__init__(f"gateway {gateway!r} wrote data it does not own: {', '.join(named)}")


def ingest(conn: Any, d: Dialect, batch: Batch) -> Ingested:
    with d.transaction(conn):
        new_ids = d.insert_readings(conn, batch.readings, batch.now)
        rollups.add_new(conn, d, batch.readings, new_ids, batch.summaries)  # what reports read
        new_events = d.insert_events(conn, batch.events, batch.now)
        new_ids |= new_events
        cleared: list[str] = []
        if batch.gateway is not None:
            # First, so that heartbeat/started events below find the gateway's row.
            _touch_gateway(conn, d, batch)
            cleared = _clear_offline(conn, d, batch.gateway, batch.now)
        _update_twin(conn, d, [r for r in batch.readings if r.id in new_ids])
        for event in batch.events:
            if event.id in new_events:
                _apply_event(conn, d, event)
                _notify(conn, d, event, batch.now)
        if batch.gateway is not None:
            _refuse_foreign(conn, d, batch, new_ids)
    accepted = len(new_ids)
    return Ingested(accepted, batch.size - accepted, new_ids, cleared)


def ingest_group(conn: Any, d: Dialect, batches: Sequence[Batch]) -> list[Ingested | Exception]:
    """Several batches in ONE transaction, so one commit (one disk sync) for all of them,
    each in its own savepoint: a batch that fails (ForeignData, a statement error) is
    rolled back alone and gets its exception, the others are stored. When the transaction
    itself fails (BEGIN, COMMIT), every batch gets that exception: nothing was stored."""
    outcomes: list[Ingested | Exception] = []
    try:
        with d.transaction(conn):
            for batch in batches:
                d.execute(conn, "SAVEPOINT batch")
                try:
                    outcomes.append(ingest(conn, d, batch))
                except Exception as exc:  # noqa: BLE001 -- handed to that batch's caller
                    d.execute(conn, "ROLLBACK TO batch")
                    outcomes.append(exc)
                d.execute(conn, "RELEASE batch")
    except Exception as exc:  # noqa: BLE001 -- handed to every batch's caller
        return [exc] * len(batches)
    return outcomes


def _refuse_foreign(conn: Any, d: Dialect, batch: Batch, new_ids: set[str]) -> None:
    """Raise ForeignData (rolling the batch back) when its new events touched what another
    gateway owns. Runs last, so on PostgreSQL a concurrent first writer of a sensor has
    committed (our upsert waited for it) and is seen here."""
    gateway = batch.gateway
    assert gateway is not None
    sensors = {r.sensor for r in batch.readings if r.id in new_ids}
    alarms: set[str] = set()
    for e in batch.events:
        if e.id in new_ids:
            if e.type in _OWNED_SUBJECT and e.subject:
                sensors.add(e.subject)
            if e.type in _ALARMS:
                alarms.add(e.data["alarm_id"])
    foreign_sensors: dict[str, str] = {}
    foreign_alarms: dict[str, str] = {}
    for chunk in _chunks(sorted(sensors)):
        among, ids = d.one_of("id", chunk)
        for sensor, owner in d.all(
            conn, f"SELECT id, gateway FROM sensors WHERE gateway <> ? AND {among}", (gateway, *ids)
        ):
            foreign_sensors[str(sensor)] = str(owner)
    for chunk in _chunks(sorted(alarms)):
        among, ids = d.one_of("alarm_id", chunk)
        for alarm_id, origin, owner in d.all(
            conn,
            f"""SELECT alarm_id, origin, gateway FROM alarms WHERE {among}
            AND (origin <> 'edge' OR gateway IS NULL OR gateway <> ?)""",
            (*ids, gateway),
        ):
            foreign_alarms[str(alarm_id)] = "central" if origin != "edge" else str(owner)
    if foreign_sensors or foreign_alarms:
        raise ForeignData(gateway, foreign_sensors, foreign_alarms)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _update_twin(conn: Any, d: Dialect, readings: list[ReadingRow]) -> None:
    latest: dict[str, ReadingRow] = {}
    for row in readings:
        seen = latest.get(row.sensor)
        if seen is None or row.time >= seen.time:
            latest[row.sensor] = row
    # One statement for all the batch's sensors (one row each, so no row is updated twice),
    # in one lock order: no deadlocks between batches.
    rows = [latest[sensor] for sensor in sorted(latest)]
    for start in range(0, len(rows), _TWIN_CHUNK):
        source, params = d.rows(
            _TWIN_TYPES,
            [
                (r.sensor, r.gateway, r.unit, r.quantity, r.value, r.time, r.seq)
                for r in rows[start : start + _TWIN_CHUNK]
            ],
        )
        d.execute(
            conn,
            f"""INSERT INTO sensors (id, gateway, unit, quantity, last_value, last_time, last_seq)
            {source}
            ON CONFLICT (id) DO UPDATE SET gateway = COALESCE(sensors.gateway, excluded.gateway),
                unit = COALESCE(excluded.unit, sensors.unit),
                quantity = COALESCE(excluded.quantity, sensors.quantity),
                last_value = excluded.last_value, last_time = excluded.last_time,
                last_seq = excluded.last_seq
            WHERE (sensors.gateway IS NULL OR sensors.gateway = excluded.gateway)
                AND (sensors.last_time IS NULL OR excluded.last_time >= sensors.last_time)""",
            params,
        )


def _apply_event(conn: Any, d: Dialect, event: EventRow) -> None:
    data = event.data
    when = event.time
    if event.type == ev.SENSOR_DESCRIBED and event.subject:
        d.execute(
            conn,
            """INSERT INTO sensors (id, gateway, kind, quantity, unit, site, protocol, alarms,
                described_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET gateway = COALESCE(sensors.gateway, excluded.gateway),
                kind = excluded.kind, quantity = excluded.quantity, unit = excluded.unit,
                site = excluded.site, protocol = excluded.protocol, alarms = excluded.alarms,
                described_at = excluded.described_at
            WHERE (sensors.gateway IS NULL OR sensors.gateway = excluded.gateway)
                AND (sensors.described_at IS NULL
                    OR excluded.described_at >= sensors.described_at)""",
            (
                event.subject,
                event.gateway,
                _text(data.get("kind")),
                _text(data.get("quantity")),
                _text(data.get("unit")),
                _text(data.get("site")),
                _text(data.get("protocol")),
                orjson.dumps(data.get("alarms") or {}).decode(),
                when,
            ),
        )
    elif (
        event.type == ev.ANALYTICS_STATUS
        and event.gateway is None  # only analytics sets a sensor's analytics status
        and isinstance(data.get("sensor"), str)
    ):
        d.execute(
            conn,
            """INSERT INTO sensors (id, analytics_status, analytics_at) VALUES (?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET analytics_status = excluded.analytics_status,
                analytics_at = excluded.analytics_at
            WHERE sensors.analytics_at IS NULL OR excluded.analytics_at >= sensors.analytics_at""",
            (data["sensor"], _text(data.get("status")), when),
        )
    elif event.type == ev.ALARM_RAISED:
        if event.subject:  # a sensor known only from its alarm still gets a twin
            d.execute(
                conn,
                "INSERT INTO sensors (id, gateway) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (event.subject, event.gateway),
            )
        d.execute(
            conn,
            """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, threshold, value,
                raised_at, raised_event, priority) VALUES (?, 'edge', ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (alarm_id) DO UPDATE SET
                subject = excluded.subject, rule = excluded.rule,
                threshold = excluded.threshold, value = excluded.value,
                raised_at = excluded.raised_at, raised_event = excluded.raised_event,
                priority = COALESCE(excluded.priority, alarms.priority)
            WHERE alarms.origin = 'edge' AND alarms.gateway = excluded.gateway""",
            (
                data["alarm_id"],
                event.gateway,
                event.subject,
                data["rule"],
                _number(data.get("threshold")),
                _number(data.get("value")),
                when,
                event.id,
                _priority(data.get("priority")),
            ),
        )
    elif event.type == ev.ALARM_CLEARED:
        duration = _number(data.get("duration_s"))
        raised = when - duration if when is not None and duration is not None else None
        d.execute(
            conn,
            """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, raised_at,
                cleared_at, clear_value, cleared_event, duration_s, priority)
            VALUES (?, 'edge', ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (alarm_id) DO UPDATE SET cleared_at = excluded.cleared_at,
                clear_value = excluded.clear_value, cleared_event = excluded.cleared_event,
                duration_s = excluded.duration_s,
                priority = COALESCE(alarms.priority, excluded.priority)
            WHERE alarms.origin = 'edge' AND alarms.gateway = excluded.gateway""",
            (
                data["alarm_id"],
                event.gateway,
                event.subject,
                data["rule"],
                raised,
                when,
                _number(data.get("value")),
                event.id,
                duration,
                _priority(data.get("priority")),
            ),
        )
    elif event.gateway is not None:
        _gateway_event(conn, d, event)
    if event.type in (ev.ALARM_RAISED, ev.ALARM_CLEARED):
        _clear_not_before_raise(conn, d, data["alarm_id"])


def _clear_not_before_raise(conn: Any, d: Dialect, alarm_id: str) -> None:
    """A clear stamped before its raise (an older edge, a sensor clock behind) is moved to it."""
    row = d.one(
        conn,
        """UPDATE alarms SET cleared_at = raised_at WHERE alarm_id = ? AND cleared_at < raised_at
        RETURNING raised_at""",
        (alarm_id,),
    )
    if row is not None:
        log.warning("alarm %s: cleared before its raise; cleared_at set to raised_at", alarm_id)


def _notify(conn: Any, d: Dialect, event: EventRow, now: float) -> None:
    data = event.data
    if event.type == ev.ALARM_RAISED:
        outbox.enqueue(conn, d, data["alarm_id"], "raised", now)
    elif event.type == ev.ALARM_CLEARED:
        outbox.enqueue(conn, d, data["alarm_id"], "cleared", now)
    elif event.type == ev.ANALYTICS_PREDICTION and data.get("action", "raised") == "raised":
        # An early warning is told once, when it is raised; its updates and end are not.
        detail = {**data, "time": event.time, "source": event.source}
        outbox.enqueue(conn, d, f"prediction:{event.id}", "prediction", now, detail)


def _gateway_event(conn: Any, d: Dialect, event: EventRow) -> None:
    data = event.data
    if event.type == ev.GATEWAY_HEARTBEAT and isinstance(data.get("pending"), int):
        d.execute(
            conn, "UPDATE gateways SET pending = ? WHERE id = ?", (data["pending"], event.gateway)
        )
    elif event.type == ev.GATEWAY_STARTED:
        d.execute(
            conn,
            """UPDATE gateways SET version = ?, config_hash = ?, started_at = ?, stopped_at = NULL
            WHERE id = ?""",
            (_text(data.get("version")), _text(data.get("config_hash")), event.time, event.gateway),
        )
    elif event.type == ev.GATEWAY_STOPPED:
        d.execute(
            conn, "UPDATE gateways SET stopped_at = ? WHERE id = ?", (event.time, event.gateway)
        )


def _touch_gateway(conn: Any, d: Dialect, batch: Batch) -> None:
    seqs = [r.seq for r in batch.readings] + [e.seq for e in batch.events if e.seq is not None]
    # Gateway events (heartbeats, alarms) carry no data.received: their time is the
    # gateway's own clock when it made them, which is what lag is measured against.
    received = [r.received for r in batch.readings if r.received is not None] + [
        t for e in batch.events if (t := e.received if e.received is not None else e.time)
    ]
    newest = max(received) if received else None
    d.execute(
        conn,
        """INSERT INTO gateways (id, first_seen, last_seen, last_seq, last_received, lag_s)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen,
            last_seq = CASE WHEN excluded.last_seq IS NOT NULL AND (gateways.last_seq IS NULL
                OR excluded.last_seq > gateways.last_seq) THEN excluded.last_seq
                ELSE gateways.last_seq END,
            last_received = CASE WHEN excluded.last_received IS NOT NULL
                AND (gateways.last_received IS NULL
                OR excluded.last_received > gateways.last_received) THEN excluded.last_received
                ELSE gateways.last_received END,
            lag_s = CASE WHEN excluded.last_received IS NULL THEN gateways.lag_s
                WHEN gateways.last_received IS NULL
                OR excluded.last_received > gateways.last_received THEN excluded.lag_s
                ELSE excluded.last_seen - gateways.last_received END""",
        (
            batch.gateway,
            batch.now,
            batch.now,
            max(seqs) if seqs else None,
            newest,
            max(0.0, batch.now - newest) if newest is not None else None,
        ),
    )


def _clear_offline(conn: Any, d: Dialect, gateway: str, now: float) -> list[str]:
    rows = d.all(
        conn,
        """UPDATE alarms SET cleared_at = ?, duration_s = ? - raised_at
        WHERE rule = ? AND gateway = ? AND cleared_at IS NULL RETURNING alarm_id""",
        (now, now, OFFLINE_RULE, gateway),
    )
    for row in rows:
        outbox.enqueue(conn, d, str(row[0]), "cleared", now)
    return [str(r[0]) for r in rows]


def raise_offline(
    conn: Any, d: Dialect, gateway: str, now: float, cutoff: float, after_s: float
) -> OfflineAlarm | None:
    """Raise `gateway_offline` unless the gateway spoke since `cutoff` or one is active.

    Several central instances may run this at once: the unique index `alarms_one_offline`
    (migration 3) lets one insert win; the others get no row and raise nothing.
    """
    alarm_id = f"central:{OFFLINE_RULE}:{gateway}:{int(now * 1000)}"
    with d.transaction(conn):
        row = d.one(
            conn,
            """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, threshold, value,
                raised_at)
            SELECT ?, 'central', id, id, ?, ?, ? - last_seen, ? FROM gateways g
            WHERE id = ? AND last_seen < ? AND NOT EXISTS (SELECT 1 FROM alarms a
                WHERE a.rule = ? AND a.gateway = g.id AND a.cleared_at IS NULL)
            ON CONFLICT DO NOTHING RETURNING raised_at, value""",
            (alarm_id, OFFLINE_RULE, after_s, now, now, gateway, cutoff, OFFLINE_RULE),
        )
        if row is not None:
            outbox.enqueue(conn, d, alarm_id, "raised", now)
    if row is None:
        return None
    return OfflineAlarm(alarm_id, gateway, float(row[0]), float(row[1]))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _priority(value: Any) -> str | None:
    return value if value in ("critical", "warning") else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
