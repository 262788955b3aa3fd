"""Time partitions of PostgreSQL's `readings`: made ahead of time, dropped by retention.

Migration 3 made `readings` a table partitioned by range of `time` (epoch seconds) with a
DEFAULT partition for rows no range covers (readings from before partitioning began, clocks
far ahead, an upgraded database's existing rows). `maintain()` runs at start and every hour
on every central instance; a PostgreSQL advisory lock lets one instance at a time do it,
and each step is idempotent:

- every range of `WIDTH` (one UTC day) from the current one to `AHEAD` from now gets a
  partition, filling only the gaps between partitions that exist (a different width never
  overlaps); rows the default partition already holds for such a range move into it in
  the same transaction;
- with a retention, partitions that end before `now - retention` are dropped whole, and
  older rows are deleted from the default partition in chunks.

DDL waits at most `LOCK_TIMEOUT` for ingest transactions to let go of the table; a step that
times out is retried at the next round.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from runtime.backoff import RetryLog

log = logging.getLogger("tracseq.central.partitions")

WIDTH = 86_400.0  # one partition per UTC day
AHEAD = 7 * 86_400.0  # partitions exist this far ahead of now
BACKFILL = 31 * 86_400.0  # how far back a pause in maintenance is filled in
INTERVAL = 3_600.0  # seconds between maintenance rounds
LOCK_TIMEOUT = "5s"
DELETE_CHUNK = 10_000
_LOCK = 0x7472_6163_7370_61  # 'tracspa': one maintainer at a time
_BOUND = re.compile(r"FOR VALUES FROM \('?(MINVALUE|-?[0-9.e+]+)'?\) TO \('?(-?[0-9.e+]+)'?\)")
_COLUMNS = "id, gateway, seq, sensor, time, value, unit, quantity, received, ingested"

AsyncConn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: float | None  # None for the default partition
    end: float | None


@dataclass(slots=True)
class Report:
    """What one maintenance round did."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved: int = 0  # rows moved out of the default partition into new partitions
    deleted: int = 0  # rows older than the retention deleted from the default partition
    skipped: bool = False  # another instance holds the maintenance lock


def plan(now: float, existing: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ranges to create: the gaps in [start of today, now + AHEAD), cut per WIDTH.

    After a pause (central stopped for days) the days since the newest partition are filled
    too, up to `BACKFILL` back, so the gateways' backlog lands in partitions of its own.
    """
    first = math.floor(now / WIDTH) * WIDTH
    if existing:
        newest = max(hi for _, hi in existing)
        first = min(first, max(math.floor(newest / WIDTH) * WIDTH, first - BACKFILL))
    last = math.ceil((now + AHEAD) / WIDTH) * WIDTH
    out: list[tuple[float, float]] = []
    slot = first
    while slot < last:
        pieces = [(slot, slot + WIDTH)]
        for lo, hi in existing:
            pieces = [
                part
                for a, b in pieces
                for part in ((a, min(b, lo)), (max(a, hi), b))
                if part[0] < part[1]
            ]
        out.extend(pieces)
        slot += WIDTH
    return out


def partition_name(start: float, end: float) -> str:
    day = datetime.fromtimestamp(start, tz=UTC)
    if start % 86_400 == 0 and (end - start) % 86_400 == 0:
        return f"readings_p{day:%Y%m%d}"
    return f"readings_p{day:%Y%m%d_%H%M%S}"


async def partitions(conn: AsyncConn) -> list[Partition]:
    """The partitions of `readings` (in the connection's search_path), oldest first."""
    cur = await conn.execute(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'readings'::regclass"""
    )
    out = []
    for name, bound in await cur.fetchall():
        match = _BOUND.search(bound or "")
        if match:
            start = -math.inf if match[1] == "MINVALUE" else float(match[1])
            out.append(Partition(name, start, float(match[2])))
        elif bound == "DEFAULT":
            out.append(Partition(name, None, None))
    return sorted(out, key=lambda p: (p.start is not None, p.start or 0.0))


async def maintain(conn: AsyncConn, now: float, retention: float | None) -> Report:
    """One round: partitions ahead, retention; skipped while another instance runs one."""
    report = Report()
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,))
    if not (await cur.fetchone() or (False,))[0]:
        report.skipped = True
        return report
    try:
        await conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        parts = await partitions(conn)
        default = next((p.name for p in parts if p.start is None), None)
        ranges = [(p.start, p.end) for p in parts if p.start is not None and p.end is not None]
        for start, end in plan(now, ranges):
            report.moved += await _create(conn, start, end, default)
            report.created.append(partition_name(start, end))
        if retention is not None:
            cutoff = now - retention
            for part in parts:
                if part.end is not None and part.end <= cutoff:
                    await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(part.name)))
                    report.dropped.append(part.name)
            if default is not None:
                report.deleted = await _delete_before(conn, default, cutoff)
            if report.dropped or report.deleted:
                # The hourly summaries of what was deleted no longer stand for the readings
                # (central/storage/rollups.py): reports read what is left of those hours.
                await conn.execute(
                    "UPDATE reading_rollups SET exact = 0 WHERE bucket < %s AND exact = 1",
                    (cutoff,),
                )
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    return report


async def _create(conn: AsyncConn, start: float, end: float, default: str | None) -> int:
    """Create the partition [start, end); returns the rows moved out of the default."""
    name = sql.Identifier(partition_name(start, end))
    bounds = sql.SQL("FOR VALUES FROM ({}) TO ({})").format(
        sql.SQL(repr(float(start))), sql.SQL(repr(float(end)))
    )
    create = sql.SQL("CREATE TABLE {} PARTITION OF readings {}").format(name, bounds)
    async with conn.transaction():
        # The parent first (the CREATE needs it anyway): no insert lands in the range between
        # the move and the CREATE, and no ingest transaction can hold a lock we wait for.
        await conn.execute("LOCK TABLE ONLY readings IN ACCESS EXCLUSIVE MODE")
        moved = 0
        if default is not None:
            home = sql.Identifier(default)
            cur = await conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND time < %s").format(home),
                (start, end),
            )
            moved = int((await cur.fetchone() or (0,))[0])
        if moved:
            columns = sql.SQL(_COLUMNS)
            await conn.execute("CREATE TEMP TABLE tracseq_moved (LIKE readings) ON COMMIT DROP")
            await conn.execute(
                sql.SQL(
                    """WITH m AS (DELETE FROM {} WHERE time >= %s AND time < %s
                    RETURNING {cols}) INSERT INTO tracseq_moved ({cols}) SELECT {cols} FROM m"""
                ).format(home, cols=columns),
                (start, end),
            )
        await conn.execute(create)
        if moved:
            await conn.execute(
                sql.SQL("INSERT INTO readings ({cols}) SELECT {cols} FROM tracseq_moved").format(
                    cols=sql.SQL(_COLUMNS)
                )
            )
    return moved


async def _delete_before(conn: AsyncConn, default: str, cutoff: float) -> int:
    table = sql.Identifier(default)
    statement = sql.SQL(
        "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} WHERE time < %s LIMIT %s)"
    ).format(t=table)
    deleted = 0
    while True:
        cur = await conn.execute(statement, (cutoff, DELETE_CHUNK))
        deleted += cur.rowcount
        if cur.rowcount < DELETE_CHUNK:
            return deleted


async def maintain_url(url: str, now: float, retention: float | None) -> Report:
    """`maintain()` on a connection of its own (for the CLI, tests and benchmarks)."""
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=5
    ) as conn:
        return await maintain(conn, now, retention)


async def run(
    url: str, retention: float | None, clock: Callable[[], float], interval: float = INTERVAL
) -> None:
    """Maintain the partitions now and every `interval` seconds, until cancelled."""
    retry = RetryLog(log, "maintaining the readings partitions")
    while True:
        try:
            report = await maintain_url(url, clock(), retention)
        except (psycopg.Error, OSError) as exc:
            retry.failed(exc)
        else:
            retry.succeeded()
            if report.created or report.dropped or report.moved or report.deleted:
                log.info(
                    "readings partitions: created %s, dropped %s, moved %d rows from the "
                    "default partition, deleted %d rows older than the retention",
                    ", ".join(report.created) or "none",
                    ", ".join(report.dropped) or "none",
                    report.moved,
                    report.deleted,
                )
        await asyncio.sleep(interval)
