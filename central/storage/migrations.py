"""Versioned schema migrations of the central database, one list per backend.

Over 400 lines on purpose: the append-only list of every schema version of both backends,
read top to bottom; a migration is never edited, moved or split once released.

A migration is appended, never edited. `schema_migrations` records each applied version;
opening the storage applies the missing ones in order, each in its own transaction
(PostgreSQL additionally takes an advisory lock so two starting services do not race).
Times are epoch seconds (double precision) in both backends, so the same SQL computes
buckets and reports on both.

Migration 2 (issue 7, the dashboard) adds users, sessions and the hash-chained audit trail.
Migration 3 (issue 9, scale-out) partitions PostgreSQL's readings by time (see
central/storage/partitions.py) and allows one active `gateway_offline` per gateway, so
several central instances' watchdogs raise it once.
Migration 5 (issue 13, security) refuses TRUNCATE on the append-only tables (PostgreSQL)
and adds the signed audit checkpoints.
Migration 6 (issue 14, notifications) adds users' e-mail and phone, the notification outbox
(written in the transaction that stores an alarm, ack or clear), the notifications (one
message to one recipient, possibly listing several alarms) and every delivery attempt.
Migration 11 (issue 16, excursion reports) adds the hourly summaries of each sensor's
readings (central/storage/rollups.py), backfilled from the readings already stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from central.storage import rollups
from central.storage.errors import StorageError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: str
    postgres: str
    # Runs after the SQL, in the same transaction (a backfill that needs the dialect).
    then: Callable[[Any, Any], None] | None = None


_V1_TABLES = """
CREATE TABLE readings (
    id TEXT PRIMARY KEY,                 -- event id '<gateway>:<seq>', the de-dup key
    gateway TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sensor TEXT NOT NULL,
    time {float} NOT NULL,               -- sensor time, else gateway receive time
    value {float} NOT NULL,
    unit TEXT,
    quantity TEXT,
    received {float},                    -- gateway receive time
    ingested {float} NOT NULL            -- central receive time
);
CREATE INDEX readings_sensor_time ON readings (sensor, time);
CREATE TABLE events (
    id TEXT PRIMARY KEY,                 -- every event that is not a reading
    source TEXT NOT NULL,
    gateway TEXT,
    seq BIGINT,
    type TEXT NOT NULL,
    subject TEXT,
    time {float},
    ingested {float} NOT NULL,
    data TEXT NOT NULL                   -- the event's data object as JSON
);
CREATE INDEX events_type_time ON events (type, time);
CREATE INDEX events_subject_time ON events (subject, time);
CREATE TABLE sensors (
    id TEXT PRIMARY KEY,                 -- the digital twin of each sensor
    gateway TEXT,
    kind TEXT,
    quantity TEXT,
    unit TEXT,
    site TEXT,
    protocol TEXT,
    alarms TEXT,                         -- JSON of sensor.described data.alarms
    described_at {float},
    last_value {float},
    last_time {float},
    last_seq BIGINT,
    analytics_status TEXT,
    analytics_at {float}
);
CREATE TABLE gateways (
    id TEXT PRIMARY KEY,
    first_seen {float},
    last_seen {float},                   -- central time of the last request from it
    last_seq BIGINT,
    last_received {float},               -- newest gateway receive time ingested
    lag_s {float},                       -- age of the newest event at its ingest
    pending BIGINT,                      -- from the last heartbeat
    version TEXT,
    config_hash TEXT,
    started_at {float},
    stopped_at {float}
);
CREATE TABLE alarms (
    alarm_id TEXT PRIMARY KEY,           -- raised and cleared merged per alarm_id
    origin TEXT NOT NULL,                -- 'edge' or 'central' (gateway_offline)
    gateway TEXT,
    subject TEXT,                        -- sensor id, or gateway id for gateway_offline
    rule TEXT NOT NULL,
    threshold {float},
    value {float},
    raised_at {float},
    raised_event TEXT,
    cleared_at {float},
    clear_value {float},
    cleared_event TEXT,
    duration_s {float}
);
CREATE INDEX alarms_raised ON alarms (raised_at);
CREATE INDEX alarms_active ON alarms (gateway, rule) WHERE cleared_at IS NULL;
CREATE TABLE alarm_acks (
    id {serial},
    alarm_id TEXT NOT NULL REFERENCES alarms (alarm_id),
    ack_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    at {float} NOT NULL,
    actor TEXT NOT NULL                  -- the API key (or, later, user) that sent it
);
CREATE INDEX alarm_acks_alarm ON alarm_acks (alarm_id);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,         -- sha256 hex of the token; the token is never stored
    source TEXT NOT NULL,                -- the CloudEvents source it may write
    created {float} NOT NULL,
    revoked {float}
);
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created {float} NOT NULL,
    revoked {float}
);
"""

_SQLITE_APPEND_ONLY = """
CREATE TRIGGER alarm_acks_no_update BEFORE UPDATE ON alarm_acks
BEGIN SELECT RAISE(ABORT, 'alarm_acks is append-only'); END;
CREATE TRIGGER alarm_acks_no_delete BEFORE DELETE ON alarm_acks
BEGIN SELECT RAISE(ABORT, 'alarm_acks is append-only'); END;
"""

_POSTGRES_APPEND_ONLY = """
CREATE FUNCTION tracseq_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME; END $$;
CREATE TRIGGER alarm_acks_append_only BEFORE UPDATE OR DELETE ON alarm_acks
FOR EACH ROW EXECUTE FUNCTION tracseq_append_only();
"""

_V2_PEOPLE = """
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,         -- argon2id, PHC string
    created {float} NOT NULL,
    updated {float},
    disabled {float}                     -- set: may not sign in, sessions refused
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,         -- sha256 hex of the cookie; the cookie is never stored
    username TEXT NOT NULL REFERENCES users (name),
    csrf_token TEXT NOT NULL,
    created {float} NOT NULL,
    expires {float} NOT NULL,
    revoked {float}
);
CREATE INDEX sessions_user ON sessions (username);
CREATE TABLE audit (
    id BIGINT PRIMARY KEY,               -- 1, 2, 3, ... assigned under a lock: no gaps
    at {float} NOT NULL,
    actor TEXT NOT NULL,                 -- user:<name>, apikey:<name>, cli:<os user>, ...
    action TEXT NOT NULL,
    target TEXT,
    old_value TEXT,
    new_value TEXT,
    prev_hash TEXT NOT NULL,             -- the previous row's hash (64 zeros for the first)
    hash TEXT NOT NULL                   -- sha256 of prev_hash and this row (central/audit.py)
);
"""

_SQLITE_AUDIT_APPEND_ONLY = """
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"""

_POSTGRES_AUDIT_APPEND_ONLY = """
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION tracseq_append_only();
"""

# Readings become a table partitioned by range of time. A partitioned table's unique key
# must contain the partition key, so the de-dup key is (id, time): a resent event carries
# its time, so it is still recognised. Existing rows stay where they are: the old table is
# attached as the DEFAULT partition (no copy; its key is rebuilt as (id, time)), and
# partitions for time ranges from now on are made by central/storage/partitions.py.
_POSTGRES_PARTITIONED_READINGS = """
ALTER TABLE readings RENAME TO readings_unpartitioned;
ALTER TABLE readings_unpartitioned RENAME CONSTRAINT readings_pkey
    TO readings_unpartitioned_pkey;
ALTER INDEX readings_sensor_time RENAME TO readings_unpartitioned_sensor_time;
CREATE TABLE readings (
    id TEXT NOT NULL,
    gateway TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sensor TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit TEXT,
    quantity TEXT,
    received DOUBLE PRECISION,
    ingested DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE INDEX readings_sensor_time ON readings (sensor, time);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM readings_unpartitioned) THEN
        ALTER TABLE readings_unpartitioned DROP CONSTRAINT readings_unpartitioned_pkey,
            ADD CONSTRAINT readings_unpartitioned_pkey PRIMARY KEY (id, time);
        ALTER TABLE readings ATTACH PARTITION readings_unpartitioned DEFAULT;
    ELSE
        DROP TABLE readings_unpartitioned;
        CREATE TABLE readings_default PARTITION OF readings DEFAULT;
    END IF;
END $$;
"""

# Several instances' watchdogs may try to raise the same gateway_offline at once: the
# unique index lets exactly one insert win (the others do nothing). Duplicates left by
# two instances of an older version sharing one database are closed first.
_ONE_OFFLINE_ALARM = """
UPDATE alarms SET cleared_at = raised_at, duration_s = 0
WHERE origin = 'central' AND rule = 'gateway_offline' AND cleared_at IS NULL
    AND alarm_id NOT IN (SELECT MIN(alarm_id) FROM alarms WHERE origin = 'central'
        AND rule = 'gateway_offline' AND cleared_at IS NULL GROUP BY gateway);
CREATE UNIQUE INDEX alarms_one_offline ON alarms (gateway)
    WHERE origin = 'central' AND rule = 'gateway_offline' AND cleared_at IS NULL;
"""

# Replaces (sensor, time): the same lookups, and min/avg/max per step (the dashboard's chart
# query) read only the index, about twice as fast over 1 M readings.
_COVERING_READINGS_INDEX = """
CREATE INDEX readings_sensor_time_value ON readings (sensor, time, value);
DROP INDEX readings_sensor_time;
"""

# Issue 13: the owner of the tables could TRUNCATE the audit trail (row triggers do not
# fire on TRUNCATE); signed checkpoints {rows, head hash} let verification notice a trail
# that shrank or was re-chained (central/trail.py). The checkpoints are append-only too.
_CHECKPOINTS = """
CREATE TABLE audit_checkpoints (
    id BIGINT PRIMARY KEY,               -- 1, 2, 3, ...
    at {float} NOT NULL,
    row_count BIGINT NOT NULL,           -- audit rows 1..row_count were in the trail
    head TEXT NOT NULL,                  -- hash of row `row_count` (64 zeros for none)
    signature TEXT NOT NULL              -- HMAC of the above with --audit-key (central/signing.py)
);
"""

_SQLITE_CHECKPOINTS_APPEND_ONLY = """
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
"""

_POSTGRES_NO_TRUNCATE = """
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION tracseq_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION tracseq_append_only();
CREATE TRIGGER alarm_acks_no_truncate BEFORE TRUNCATE ON alarm_acks
FOR EACH STATEMENT EXECUTE FUNCTION tracseq_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION tracseq_append_only();
"""

# The outbox is filled in the transaction that stores the alarm event (central/storage/
# write.py); the sender (central/notify/) plans it into notifications and claims due ones.
_V6_NOTIFICATIONS = """
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN phone TEXT;
CREATE TABLE notify_outbox (
    id {serial},
    alarm_id TEXT NOT NULL,              -- or 'prediction:<event id>'
    event TEXT NOT NULL,                 -- raised, acknowledged, cleared, prediction
    at {float} NOT NULL,                 -- central time it was stored
    detail TEXT,                         -- JSON: a prediction's data
    planned {float}                      -- set when turned into notifications
);
CREATE INDEX notify_outbox_unplanned ON notify_outbox (id) WHERE planned IS NULL;
CREATE TABLE notifications (
    id {serial},
    policy TEXT NOT NULL,
    level INTEGER NOT NULL,
    event TEXT NOT NULL,                 -- raised, acknowledged, cleared, prediction, test
    channel TEXT NOT NULL,
    recipients TEXT NOT NULL,            -- JSON list (`to`)
    state TEXT NOT NULL,                 -- pending, sending, sent, failed, cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at {float} NOT NULL,
    due_at {float},                      -- next attempt (NULL: nothing more to do)
    group_until {float},                 -- alarms may join the message until then
    claimed_until {float},               -- a sender holds it until then
    sent_at {float},
    error TEXT
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created_at);
CREATE TABLE notification_alarms (
    notification_id BIGINT NOT NULL REFERENCES notifications (id),
    alarm_id TEXT NOT NULL,
    PRIMARY KEY (notification_id, alarm_id)
);
CREATE INDEX notification_alarms_alarm ON notification_alarms (alarm_id);
CREATE TABLE notification_attempts (
    id {serial},
    notification_id BIGINT NOT NULL REFERENCES notifications (id),
    at {float} NOT NULL,
    outcome TEXT NOT NULL,               -- sent, failed
    error TEXT,
    instance TEXT NOT NULL
);
CREATE INDEX notification_attempts_of ON notification_attempts (notification_id);
"""

# Migration 7 (issue 16, QA): electronic signatures (append-only, each linked to its record
# by the SHA-256 of the signed content, which the chained audit row also holds), the
# signing state of continuous sessions (21 CFR 11.200), and calibration records per sensor
# with their certificate (PDF) stored in the database. One active `calibration_due` per
# sensor, like `gateway_offline` per gateway; one scheduled report e-mail per site, period
# and recipient (central/notify/reports.py), however many central instances plan it.
_V7_QA = """
CREATE TABLE signatures (
    id {serial},
    record_type TEXT NOT NULL,           -- alarm_ack, report, user_role, calibration
    record_id TEXT NOT NULL,
    signer TEXT NOT NULL,                -- the user name, printed as the signer's name
    role TEXT NOT NULL,
    meaning TEXT NOT NULL,               -- acknowledged, reviewed, approved, ...
    reason TEXT NOT NULL,
    signed_at {float} NOT NULL,          -- UTC epoch seconds
    zone TEXT NOT NULL,                  -- the site's time zone (central's local zone)
    local_time TEXT NOT NULL,            -- signed_at in that zone, as printed
    content TEXT NOT NULL,               -- the signed content, canonical JSON
    content_sha256 TEXT NOT NULL,
    audit_id BIGINT NOT NULL             -- the audit row that records this signature
);
CREATE INDEX signatures_record ON signatures (record_type, record_id);
CREATE TABLE signing_sessions (
    session_hash TEXT PRIMARY KEY,       -- a session that has signed once (both components)
    username TEXT NOT NULL,
    first_at {float} NOT NULL,
    last_at {float} NOT NULL
);
CREATE TABLE calibrations (
    id {serial},
    sensor TEXT NOT NULL,
    certificate TEXT NOT NULL,
    reference TEXT NOT NULL,             -- the reference standard (and its own certificate)
    performed_at {float} NOT NULL,
    due_at {float} NOT NULL,
    performed_by TEXT NOT NULL,
    points TEXT NOT NULL,                -- JSON list of points: nominal, as_found, as_left
    notes TEXT,
    attachment {blob},                   -- the certificate as PDF
    attachment_name TEXT,
    attachment_sha256 TEXT,
    attachment_size BIGINT,
    created {float} NOT NULL,
    updated {float} NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX calibrations_sensor ON calibrations (sensor, performed_at);
CREATE UNIQUE INDEX alarms_one_calibration_due ON alarms (subject)
    WHERE origin = 'central' AND rule = 'calibration_due' AND cleared_at IS NULL;
CREATE UNIQUE INDEX notifications_one_report ON notifications (policy, channel, recipients)
    WHERE event = 'report';
"""

_SQLITE_SIGNATURES_APPEND_ONLY = """
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures is append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures is append-only'); END;
"""

_POSTGRES_SIGNATURES_APPEND_ONLY = """
CREATE TRIGGER signatures_append_only BEFORE UPDATE OR DELETE ON signatures
FOR EACH ROW EXECUTE FUNCTION tracseq_append_only();
"""

# Issue 16: per sensor and hour, what a monthly report needs (central/storage/rollups.py),
# kept by ingest in the batch's transaction; the existing readings are summarised here.
_V11_ROLLUPS = """
CREATE TABLE reading_rollups (
    sensor TEXT NOT NULL,
    bucket {float} NOT NULL,             -- the hour's start, epoch seconds
    n BIGINT NOT NULL,
    first_t {float} NOT NULL,
    last_t {float} NOT NULL,
    first_v {float} NOT NULL,
    last_v {float} NOT NULL,
    last_e {float},                      -- the last reading's exp(-ΔH/(R·T)) (°C readings)
    min_v {float} NOT NULL,
    max_v {float} NOT NULL,
    sum_v {float} NOT NULL,
    min_g {float},                       -- shortest / longest interval inside the hour
    max_g {float},
    sum_vg {float} NOT NULL,             -- Σ value · interval to the next reading of the hour
    sum_eg {float} NOT NULL,             -- Σ exp(-ΔH/(R·T)) · that interval
    n_e BIGINT NOT NULL,                 -- readings with an Arrhenius term
    exact INTEGER NOT NULL,              -- 0: a late reading landed inside the hour
    PRIMARY KEY (sensor, bucket)
);
"""

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "readings, events, twin, gateways, alarms, acks, tokens, api keys",
        sqlite=_V1_TABLES.format(float="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT")
        + _SQLITE_APPEND_ONLY,
        postgres=_V1_TABLES.format(float="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY")
        + _POSTGRES_APPEND_ONLY,
    ),
    Migration(
        2,
        "users, sessions, hash-chained audit trail",
        sqlite=_V2_PEOPLE.format(float="REAL") + _SQLITE_AUDIT_APPEND_ONLY,
        postgres=_V2_PEOPLE.format(float="DOUBLE PRECISION") + _POSTGRES_AUDIT_APPEND_ONLY,
    ),
    Migration(
        3,
        "readings partitioned by time (PostgreSQL), one active gateway_offline per gateway",
        sqlite=_ONE_OFFLINE_ALARM,
        postgres=_POSTGRES_PARTITIONED_READINGS + _ONE_OFFLINE_ALARM,
    ),
    Migration(
        4,
        "readings index covers value (the dashboard's chart query reads only the index)",
        sqlite=_COVERING_READINGS_INDEX,
        postgres=_COVERING_READINGS_INDEX,
    ),
    Migration(
        5,
        "no TRUNCATE of the audit trail (PostgreSQL), signed audit checkpoints",
        sqlite=_CHECKPOINTS.format(float="REAL") + _SQLITE_CHECKPOINTS_APPEND_ONLY,
        postgres=_CHECKPOINTS.format(float="DOUBLE PRECISION") + _POSTGRES_NO_TRUNCATE,
    ),
    Migration(
        6,
        "notifications: users' e-mail and phone, outbox, delivery log and attempts",
        sqlite=_V6_NOTIFICATIONS.format(float="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
        postgres=_V6_NOTIFICATIONS.format(float="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY"),
    ),
    Migration(
        7,
        "electronic signatures, signing sessions, calibration records, calibration_due",
        sqlite=_V7_QA.format(float="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB")
        + _SQLITE_SIGNATURES_APPEND_ONLY,
        postgres=_V7_QA.format(
            float="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY", blob="BYTEA"
        )
        + _POSTGRES_SIGNATURES_APPEND_ONLY,
    ),
    Migration(
        10,
        "alarm priority (critical | warning) from the edge's alarm events",
        sqlite="ALTER TABLE alarms ADD COLUMN priority TEXT;",
        postgres="ALTER TABLE alarms ADD COLUMN priority TEXT;",
    ),
    Migration(
        11,
        "hourly summaries of each sensor's readings for the excursion reports",
        sqlite=_V11_ROLLUPS.format(float="REAL"),
        postgres=_V11_ROLLUPS.format(float="DOUBLE PRECISION"),
        then=rollups.rebuild,
    ),
]

LATEST = MIGRATIONS[-1].version


SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied {float} NOT NULL
)
"""


def pending(migrations: list[Migration], applied: set[int]) -> list[Migration]:
    """The migrations not applied yet, in version order; versions are matched, not counted,
    so a database that has e.g. 1-4 and 10 gets 5-9 when they arrive."""
    unknown = applied - {m.version for m in migrations}
    if unknown:
        raise StorageError(
            f"the database schema has version(s) {sorted(unknown)}, newer than this build "
            f"knows (up to {migrations[-1].version}): upgrade tracseq-edge"
        )
    return [m for m in migrations if m.version not in applied]
