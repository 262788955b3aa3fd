"""The durable log's schema and its versioned migrations (PRAGMA user_version).

A migration is appended, never edited: a gateway upgraded from any earlier version runs
the ones it lacks, in order, each in its own transaction.
"""

from __future__ import annotations

import sqlite3

from edge.errors import LogError

MIGRATIONS: list[str] = [
    # 1: the log, its cursors, rejects, key/value state and the sync quarantine.
    """
    CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,          -- gap-free, assigned by the writer
        type TEXT NOT NULL,               -- CloudEvent type
        subject TEXT,                     -- sensor id
        time REAL,                        -- the sensor's own time (epoch s), NULL if none
        received REAL NOT NULL,           -- gateway receive time (epoch s)
        data BLOB NOT NULL,               -- JSON object of the event's data (without seq)
        keep INTEGER NOT NULL DEFAULT 0   -- 1: never dropped by the size cap (alarms)
    );
    -- A reading's identity: the first (sensor, sensor time) wins (migration 3 adds the value).
    CREATE UNIQUE INDEX entries_identity ON entries(subject, time)
        WHERE type = 'org.tracseq.reading' AND time IS NOT NULL;
    CREATE INDEX entries_received ON entries(received);
    CREATE TABLE cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE rejects (
        id INTEGER PRIMARY KEY,
        received REAL NOT NULL,
        source TEXT NOT NULL,             -- topic, connection/unit/register, port
        reason TEXT NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE INDEX rejects_received ON rejects(received);
    CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE quarantine (
        seq INTEGER PRIMARY KEY,
        event BLOB NOT NULL,              -- the CloudEvent as it was sent
        reason TEXT NOT NULL,
        at REAL NOT NULL
    );
    """,
    # 2: the W3C traceparent of the span that received an entry (NULL when tracing is off).
    """
    ALTER TABLE entries ADD COLUMN trace TEXT;
    """,
    # 3: a reading's identity is (sensor, sensor time, value). Two readings of one sensor
    # with the same time (a device that reports in whole seconds) but different values are
    # both kept; a redelivery is byte-identical and still ignored.
    """
    ALTER TABLE entries ADD COLUMN value REAL;  -- a reading's value (its identity), else NULL
    UPDATE entries SET value = json_extract(CAST(data AS TEXT), '$.value')
        WHERE type = 'org.tracseq.reading';
    DROP INDEX entries_identity;
    CREATE UNIQUE INDEX entries_identity ON entries(subject, time, value)
        WHERE type = 'org.tracseq.reading' AND time IS NOT NULL;
    """,
    # 4: fewer pages written per commit (docs/benchmarks.md, "Log write amplification").
    # The identity leads with the sensor time: one commit holds readings of many sensors
    # from the same few milliseconds, which now share the index's newest leaf page instead
    # of touching one leaf per sensor. The `received` index goes: no query reads it
    # (retention walks `seq`), yet every commit wrote its newest leaf.
    """
    DROP INDEX entries_identity;
    CREATE UNIQUE INDEX entries_identity ON entries(time, subject, value)
        WHERE type = 'org.tracseq.reading' AND time IS NOT NULL;
    DROP INDEX entries_received;
    """,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns that version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise LogError(
            f"the log's schema is version {current}, newer than this build knows "
            f"({len(MIGRATIONS)}): upgrade tracseq-edge or point data_dir elsewhere"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a script into statements (comments may contain semicolons)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer)
            buffer = ""
    if buffer.strip():
        out.append(buffer)
    return out
