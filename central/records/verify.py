"""`central verify`: is the record intact? For monitoring (exit code) and for people (text/JSON).

Checks, each reported by name:
- `audit_chain`: every audit row's hash and link (central/audit.py), from the first row;
- `row_counts`: rows per table (reported; a count is a problem only where another check says so);
- `sequence_gaps`: each gateway's events are numbered without gaps by its durable log, so a
  missing number between a gateway's oldest stored reading and its newest event is a row
  that was deleted (or an event the gateway quarantined: `tracseq-edge status` there says);
- `unknown_sensors`: readings of sensors the twin does not know (no `sensor.described`, or
  a deleted twin row);
- `audit_checkpoints` (with `--audit-key FILE`, the key central signs checkpoints with):
  the signed checkpoints (central/trail.py) against the trail. Someone who can write the
  database can edit rows and re-chain the whole trail so that `audit_chain` passes; the
  newest checkpoint whose signature verifies still names the row count and head hash it
  saw, so a re-chained, edited or shortened trail, a forged checkpoint or one signed with
  another key is reported here.
- `signatures`: every electronic signature against its audit row and the newest of each
  record against the record as it is now (central/signatures.py): an edited signature or a
  signed acknowledgement, role change, calibration or approval changed after signing.
- `rollups`: the hourly summaries the excursion reports read (central/storage/rollups.py)
  count the readings each hour holds: an hour whose summary disagrees (readings written or
  deleted behind central's back) would be reported wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from central import audit as audit_chain
from central import signatures
from central.records.database import Database, RecordsError, connection, has_tables
from central.storage import rollups
from central.storage.dialect import Dialect
from central.storage.people import audit_rows
from central.trail import check_trail
from runtime.events import format_time

CHECKS = (
    "audit_chain", "row_counts", "sequence_gaps", "unknown_sensors", "signatures", "rollups",
)  # fmt: skip
TABLES = (
    "readings", "events", "sensors", "gateways", "alarms", "alarm_acks", "users", "audit",
    "signatures", "calibrations", "reading_rollups",
)  # fmt: skip


@dataclass(slots=True)
class Report:
    ok: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    def fail(self, check: str, problem: str) -> None:
        self.ok = False
        self.checks[check] = "failed"
        self.problems.append(f"{check}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": self.checks,
            "counts": self.counts,
            "problems": self.problems,
        }


def verify(db: Database, key: bytes | None = None) -> Report:
    """Check `db`; with `key` (the `--audit-key` of central) also its signed checkpoints."""
    report = Report()
    with connection(db, readonly=True) as (conn, dialect):
        if not has_tables(conn, dialect):
            raise RecordsError("the database holds no central schema")
        for check in CHECKS + (("audit_checkpoints",) if key is not None else ()):
            report.checks[check] = "ok"
        _audit(conn, dialect, report)
        if key is not None:
            _checkpoints(conn, dialect, key, report)
        for table in TABLES:
            report.counts[table] = int(dialect.one(conn, f"SELECT count(*) FROM {table}")[0])
        _gaps(conn, dialect, report)
        _unknown_sensors(conn, dialect, report)
        _signatures(conn, dialect, report)
        _rollups(conn, dialect, report)
    return report


def _audit(conn: Any, dialect: Dialect, report: Report) -> None:
    verdict = audit_chain.verify(audit_rows(conn, dialect))
    for row_id, problem in sorted(verdict.problems.items()):
        report.fail("audit_chain", f"row {row_id}: {problem}")


def _checkpoints(conn: Any, dialect: Dialect, key: bytes, report: Report) -> None:
    if not _has_checkpoints_table(conn, dialect):
        report.fail("audit_checkpoints", "no audit_checkpoints table (schema before version 5)")
        return
    report.counts["audit_checkpoints"] = int(
        dialect.one(conn, "SELECT count(*) FROM audit_checkpoints")[0]
    )
    result = check_trail(conn, dialect, key, full=True)
    for row_id, problem in sorted(result.checkpoint_problems.items()):
        report.fail("audit_checkpoints", f"row {row_id}: {problem}")


def _has_checkpoints_table(conn: Any, dialect: Dialect) -> bool:
    if dialect.name == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoints'"
        return dialect.one(conn, sql) is not None
    return bool(dialect.one(conn, "SELECT to_regclass('audit_checkpoints') IS NOT NULL")[0])


_GAPS = """
SELECT s.gateway, min(s.seq), max(s.seq), count(DISTINCT s.seq)
FROM (
    SELECT gateway, seq FROM readings
    UNION ALL
    SELECT gateway, seq FROM events
    WHERE gateway IS NOT NULL AND seq IS NOT NULL AND substr(source, 1, 13) = 'tracseq-edge/'
) AS s
JOIN (SELECT gateway, min(seq) AS low FROM readings GROUP BY gateway) AS r
  ON r.gateway = s.gateway
WHERE s.seq >= r.low
GROUP BY s.gateway
ORDER BY s.gateway
"""


def _gaps(conn: Any, dialect: Dialect, report: Report) -> None:
    for gateway, low, high, count in dialect.all(conn, _GAPS):
        missing = int(high) - int(low) + 1 - int(count)
        if missing > 0:
            first = _first_missing(conn, dialect, str(gateway), int(low), int(high))
            report.fail(
                "sequence_gaps",
                f"gateway {gateway}: {missing} event(s) missing between seq {low} and {high} "
                f"(first missing: {gateway}:{first})",
            )


def _first_missing(conn: Any, dialect: Dialect, gateway: str, low: int, high: int) -> int:
    """The lowest missing seq, by halving the range (a few index lookups, no full scan)."""
    sql = (
        "SELECT count(DISTINCT seq) FROM (SELECT seq FROM readings WHERE gateway = ? "
        "AND seq BETWEEN ? AND ? UNION ALL SELECT seq FROM events WHERE gateway = ? "
        "AND seq BETWEEN ? AND ?) AS s"
    )
    while low < high:
        mid = (low + high) // 2
        count = int(dialect.one(conn, sql, (gateway, low, mid, gateway, low, mid))[0])
        if count < mid - low + 1:
            high = mid
        else:
            low = mid + 1
    return low


def _unknown_sensors(conn: Any, dialect: Dialect, report: Report) -> None:
    rows = dialect.all(
        conn,
        "SELECT sensor, count(*) FROM readings WHERE sensor NOT IN (SELECT id FROM sensors) "
        "GROUP BY sensor ORDER BY sensor",
    )
    for sensor, count in rows:
        report.fail("unknown_sensors", f"{count} reading(s) of sensor {sensor!r}, not in the twin")


def _signatures(conn: Any, dialect: Dialect, report: Report) -> None:
    for problem in signatures.verify(conn, dialect)["problems"]:
        report.fail(
            "signatures",
            f"signature {problem['signature_id']} of {problem['record_type']} "
            f"{problem['record_id']}: {problem['problem']}",
        )


def _rollups(conn: Any, dialect: Dialect, report: Report) -> None:
    hours = f"""(SELECT sensor, {dialect.bucket(rollups.BUCKET)} AS b, count(*) AS n
        FROM readings GROUP BY sensor, b)"""
    rows = dialect.all(
        conn,
        f"""SELECT r.sensor, r.bucket, r.n, COALESCE(c.n, 0) FROM reading_rollups AS r
        LEFT JOIN {hours} AS c ON c.sensor = r.sensor AND c.b = r.bucket
        WHERE r.exact = 1 AND r.n <> COALESCE(c.n, 0)
        UNION ALL
        SELECT c.sensor, c.b, 0, c.n FROM {hours} AS c
        LEFT JOIN reading_rollups AS r ON r.sensor = c.sensor AND r.bucket = c.b
        WHERE r.sensor IS NULL ORDER BY 1, 2""",
    )
    for sensor, bucket, summarised, stored in rows:
        report.fail(
            "rollups",
            f"sensor {sensor!r}, hour from {format_time(float(bucket))}: the summary counts "
            f"{summarised} reading(s), the readings table holds {stored}",
        )
