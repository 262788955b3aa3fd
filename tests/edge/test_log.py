"""The durable log: crash safety, gap-free seqs, cursors, pruning and the size cap."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.base import Reject
from edge import schema
from edge.entry import Entry, Stored
from edge.errors import LogClosedError, LogError, LogFullError
from edge.log import DurableLog
from edge.sqlite import connect
from runtime import events

REPO = Path(__file__).resolve().parents[2]


def reading(sensor: str, value: float, t: float | None = None, received: float = 0.0) -> Entry:
    return Entry(events.READING, sensor, t, received or time.time(), {"value": value})


def alarm(sensor: str, received: float = 0.0) -> Entry:
    return Entry(events.ALARM_RAISED, sensor, None, received or time.time(), {"rule": "high"}, True)


def log_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A log file as an earlier build left it: its schema `version`, 4 KiB pages."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 4096")
    for script in schema.MIGRATIONS[:version]:
        for statement in schema._statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


def seqs_on_disk(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT seq FROM entries ORDER BY seq")]


def test_sigkill_never_loses_a_committed_reading(tmp_path: Path) -> None:
    """20 times: a child appends in a tight loop and is SIGKILLed at a random moment.
    Every seq it reported as committed is on disk, seqs are gap-free, the log reopens."""
    path = tmp_path / "log.db"
    rng = random.Random(42)
    reported_max = 0
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.edge.log_child", str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first_line = child.stdout.readline()  # at least one commit before the kill
        assert first_line
        time.sleep(rng.uniform(0.0, 0.3))
        child.kill()
        rest, _ = child.communicate()
        lines = [first_line, *rest.splitlines()]
        last_reported = max(int(line.split()[1]) for line in lines if len(line.split()) == 2)
        reported_max = max(reported_max, last_reported)
        on_disk = seqs_on_disk(path)
        assert on_disk == list(range(1, len(on_disk) + 1)), "seqs must be gap-free"
        assert on_disk[-1] >= last_reported, "a reported commit is missing"
    log = DurableLog.open(path, cursors=("sync",))
    try:
        assert log.last_seq >= reported_max
    finally:
        log.close_sync()


async def test_duplicate_reading_identity_is_ignored_without_a_seq_gap(tmp_path: Path) -> None:
    """Identity is (sensor, sensor time, value): a redelivery (same value) is ignored without
    spending a seq; another value in the same second is a reading of its own."""
    log = DurableLog.open(tmp_path / "log.db")
    try:
        first = await log.append([reading("a", 1.0, 1_800_000_000.0), reading("b", 2.0)])
        again = await log.append(
            [
                reading("a", 1.0, 1_800_000_000.0),  # the redelivery
                reading("a", 9.0, 1_800_000_000.0),  # same second, another value
                reading("a", 3.0, 1_800_000_001.0),
            ]
        )
        assert first == [1, 2]
        assert again == [None, 3, 4]
        stored = await log.read(0, 10)
        assert [(s.seq, s.data["value"]) for s in stored] == [
            (1, 1.0),
            (2, 2.0),
            (3, 9.0),
            (4, 3.0),
        ]
        assert log.stats.duplicates == 1
    finally:
        await log.close()


async def test_a_log_from_before_value_identity_is_upgraded_in_place(tmp_path: Path) -> None:
    """A log written by the previous schema (identity sensor + time) is migrated on open:
    its readings keep their seqs, a same-second reading with another value is now kept and
    a redelivery of an old reading is still recognised."""
    path = tmp_path / "log.db"
    conn = log_at_version(path, 2)
    conn.execute(
        "INSERT INTO entries (seq, type, subject, time, received, data, keep) "
        "VALUES (1, 'org.tracseq.reading', 'a', 1800000000.0, 1800000000.5, ?, 0)",
        (b'{"value":-80.5,"unit":"degC"}',),
    )
    conn.close()
    log = DurableLog.open(path)
    try:
        assert await log.append([reading("a", -80.5, 1_800_000_000.0)]) == [None]
        assert await log.append([reading("a", -80.4, 1_800_000_000.0)]) == [2]
        assert [s.data["value"] for s in await log.read(0, 10)] == [-80.5, -80.4]
    finally:
        await log.close()


async def test_a_log_from_before_time_first_identity_is_upgraded_in_place(tmp_path: Path) -> None:
    """A schema-3 log (4 KiB pages, identity sensor-first, a `received` index) is migrated
    on open: rows and seqs kept, redeliveries still recognised, the identity now leads with
    the sensor time, the unused index is gone and the file keeps its page size."""
    path = tmp_path / "log.db"
    conn = log_at_version(path, 3)
    conn.executemany(
        "INSERT INTO entries (seq, type, subject, time, received, data, keep, value) "
        "VALUES (?, 'org.tracseq.reading', ?, 1800000000.0, 1800000000.5, ?, 0, ?)",
        [(i, f"s{i}", f'{{"value":{i}.5}}'.encode(), i + 0.5) for i in (1, 2)],
    )
    conn.close()
    log = DurableLog.open(path)
    try:
        assert await log.append([reading("s1", 1.5, 1_800_000_000.0)]) == [None]
        assert await log.append([reading("s1", 9.5, 1_800_000_000.0)]) == [3]
    finally:
        await log.close()
    with sqlite3.connect(path) as conn:
        assert seqs_on_disk(path) == [1, 2, 3]
        columns = [row[2] for row in conn.execute("PRAGMA index_info('entries_identity')")]
        assert columns == ["time", "subject", "value"]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list('entries')")}
        assert "entries_received" not in indexes
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096


async def test_a_commit_of_many_sensors_writes_at_most_three_times_its_rows(
    tmp_path: Path,
) -> None:
    """One commit of 50 sensors' readings (2,000 readings/s in 25 ms commit windows) puts
    at most 3x the bytes its rows take in the log into the WAL: they share leaf pages."""
    path = tmp_path / "log.db"
    log = DurableLog.open(path)
    sensors = [f"freezer-{i:03d}.temp" for i in range(500)]
    t0 = 1_800_000_000.0
    try:
        for batch in range(40):  # 20,000 readings, 40 s of 500 sensors at 1/s
            t = t0 + batch
            await log.append(
                [reading(s, -80.0 + i / 100, t + i / 1000) for i, s in enumerate(sensors)]
            )
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            used = conn.execute("PRAGMA page_count").fetchone()[0] * size
            row_bytes = used / 20_000
            t = t0 + 40
            await log.append([reading(s, -70.0, t + i / 1000) for i, s in enumerate(sensors[:50])])
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames * (size + 24) <= 3 * 50 * row_bytes
    finally:
        await log.close()


async def test_a_new_log_has_small_pages(tmp_path: Path) -> None:
    """A commit writes whole pages to the WAL: 1 KiB pages for a lone reading's commit."""
    log = DurableLog.open(tmp_path / "log.db")
    try:
        await log.append([reading("a", 1.0)])
        with sqlite3.connect(tmp_path / "log.db") as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == 1024
    finally:
        await log.close()


async def test_seq_continues_after_reopen_even_when_everything_was_pruned(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = DurableLog.open(path, cursors=("sync",), keep_delivered=0.0)
    await log.append([reading("a", float(i)) for i in range(10)])
    await log.advance("sync", 10)
    await log.maintain()  # prune now rather than waiting for the next maintenance tick
    await log.close()
    assert seqs_on_disk(path) == []
    log = DurableLog.open(path, cursors=("sync",))
    try:
        assert await log.append([reading("a", 1.0)]) == [11]
    finally:
        await log.close()


async def test_cursors_move_forward_only_and_independently(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = DurableLog.open(path, cursors=("redis", "sync"))
    await log.append([reading("a", float(i)) for i in range(100)])
    await log.advance("redis", 80)
    await log.advance("sync", 30)
    await log.advance("redis", 50)  # backwards: ignored
    assert (log.cursor("redis"), log.cursor("sync")) == (80, 30)
    assert (log.pending("redis"), log.pending("sync")) == (20, 70)
    await log.close()
    log = DurableLog.open(path, cursors=("redis", "sync"))
    try:
        assert (log.cursor("redis"), log.cursor("sync")) == (80, 30)
        assert [s.seq for s in await log.read(log.cursor("sync"), 3)] == [31, 32, 33]
    finally:
        await log.close()


async def test_pruning_never_deletes_a_row_a_cursor_has_not_passed(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = DurableLog.open(path, cursors=("redis", "sync"), keep_delivered=0.0)
    try:
        await log.append([reading("a", float(i)) for i in range(100)])
        await log.advance("redis", 90)
        await log.advance("sync", 40)
        await log.maintain()
        assert seqs_on_disk(path) == list(range(41, 101))
    finally:
        await log.close()


async def test_delivered_rows_are_kept_for_keep_delivered(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    log = DurableLog.open(tmp_path / "log.db", cursors=("sync",), keep_delivered=3600.0,
                          wall=lambda: now[0])  # fmt: skip
    try:
        await log.append([reading("a", float(i), received=now[0]) for i in range(10)])
        await log.advance("sync", 10)
        await log.maintain()
        assert len(seqs_on_disk(tmp_path / "log.db")) == 10
        now[0] += 3601
        await log.maintain()
        assert seqs_on_disk(tmp_path / "log.db") == []
    finally:
        await log.close()


async def test_pruning_looks_only_at_the_oldest_rows(tmp_path: Path) -> None:
    """Maintenance runs every couple of seconds in the writer thread: when nothing is old
    enough to go, its cost must not grow with the log (SQLite VM steps, counted)."""

    async def steps(rows: int) -> int:
        path = tmp_path / f"log-{rows}.db"
        log = DurableLog.open(path, cursors=("sync",), keep_delivered=3600.0)
        try:
            for start in range(0, rows, 2000):
                await log.append([reading("a", float(i)) for i in range(start, start + 2000)])
            await log.advance("sync", rows)  # all delivered, none old enough to prune
            count = [0]

            def step() -> int:
                count[0] += 1
                return 0

            log._conn.set_progress_handler(step, 100)
            await log.maintain()
            log._conn.set_progress_handler(None, 0)
            return count[0]
        finally:
            await log.close()

    small, large = await steps(10_000), await steps(60_000)
    assert large < 2 * small


async def test_size_cap_drops_delivered_then_oldest_readings_never_alarms(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = DurableLog.open(path, cursors=("sync",), max_bytes=10**9)
    try:
        blob = "x" * 200
        # 1..2000 readings (delivered up to 1000), 2001..2100 alarms, 2101..4100 readings.
        await log.append([Entry(events.READING, "a", None, time.time(), {"v": blob})] * 2000)
        await log.append([alarm("a") for _ in range(100)])
        await log.append([Entry(events.READING, "a", None, time.time(), {"v": blob})] * 2000)
        await log.advance("sync", 1000)
        await log.maintain()
        full = log.stats.used_bytes
        log.max_bytes = int(full * 0.6)
        await log.maintain()
        remaining = seqs_on_disk(path)
        alarms = list(range(2001, 2101))
        assert set(alarms) <= set(remaining), "alarms are never dropped"
        assert not set(range(1, 1001)) & set(remaining), "delivered rows go first"
        readings = [s for s in range(1001, 4101) if s not in alarms]
        dropped_undelivered = [s for s in readings if s not in remaining]
        assert dropped_undelivered, "then the oldest undelivered readings"
        assert dropped_undelivered == readings[: len(dropped_undelivered)]
        assert len(dropped_undelivered) < len(readings), "only as many as needed"
        assert log.stats.dropped_delivered == 1000
        assert log.stats.dropped_undelivered == len(dropped_undelivered)
        assert log.stats.used_bytes <= log.max_bytes
        # the drop counters survive a restart (for `status`)
        state = log.state("dropped:")
        assert int(state["dropped:undelivered"]) == len(dropped_undelivered)
    finally:
        await log.close()


async def test_rejects_and_state_are_committed_with_the_group(tmp_path: Path) -> None:
    log = DurableLog.open(tmp_path / "log.db")
    try:
        await log.reject(Reject("mqtt:a/b", "a/b: not JSON", b"\xff\x00", time.time()))
        await log.append([alarm("a")], state={"alarm:a:high": b'{"active": true}'})
        assert log.state("alarm:") == {"alarm:a:high": b'{"active": true}'}
        with sqlite3.connect(tmp_path / "log.db") as conn:
            assert conn.execute("SELECT source, reason, payload FROM rejects").fetchall() == [
                ("mqtt:a/b", "a/b: not JSON", b"\xff\x00")
            ]
    finally:
        await log.close()


async def test_listener_sees_committed_entries_in_seq_order(tmp_path: Path) -> None:
    log = DurableLog.open(tmp_path / "log.db")
    seen: list[int] = []
    all_seen = asyncio.Event()

    def listen(stored: list[Stored]) -> None:
        seen.extend(s.seq for s in stored)
        if len(seen) >= 100:
            all_seen.set()

    log.add_listener(listen)
    try:
        await asyncio.gather(*(log.append([reading("a", float(i))] * 5) for i in range(20)))
        async with asyncio.timeout(5):  # listeners run in this loop: wait without blocking it
            await all_seen.wait()
        assert seen == list(range(1, 101))
    finally:
        await log.close()


async def test_wal_and_synchronous_full_are_on(tmp_path: Path) -> None:
    log = DurableLog.open(tmp_path / "log.db")
    try:
        conn = connect(tmp_path / "log.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        conn.close()
    finally:
        await log.close()


@pytest.mark.parametrize("newer", [99])
def test_a_log_from_a_newer_version_is_refused_clearly(tmp_path: Path, newer: int) -> None:
    path = tmp_path / "log.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(LogError, match="newer than this build"):
        DurableLog.open(path)


async def test_maintenance_gives_back_the_wal_space(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = DurableLog.open(path, cursors=("sync",), max_bytes=8_000_000)  # WAL limit 1 MB
    try:
        blob = "x" * 500
        await log.append([Entry(events.READING, "a", None, time.time(), {"v": blob})] * 3000)
        wal = path.with_name("log.db-wal")
        assert wal.stat().st_size > 1_000_000
        await log.maintain()
        assert wal.stat().st_size < 100_000
    finally:
        await log.close()


async def test_a_full_disk_reaches_the_waiting_caller_as_log_full_with_the_cause(
    tmp_path: Path,
) -> None:
    """SQLite's page limit on the writer's connection stands in for a full disk; nothing
    may be dropped (kept entries), so the caller gets LogFullError chained to SQLITE_FULL."""
    log = DurableLog.open(tmp_path / "log.db")
    try:
        conn = log._conn
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        kept = Entry(events.ALARM_RAISED, "a", None, time.time(), {"v": "x" * 500}, True)
        with pytest.raises(LogFullError) as caught:
            for _ in range(1000):
                await log.append([kept] * 20)
        cause = caught.value.__cause__
        assert isinstance(cause, sqlite3.Error) and caught.value.cause is cause
        assert cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL
        assert str(tmp_path / "log.db") in str(caught.value)
        assert "disk is full" in str(caught.value)
    finally:
        log._conn.execute("PRAGMA max_page_count = 1073741823")
        await log.close()


async def test_a_failed_commit_says_why_and_is_not_called_full(tmp_path: Path) -> None:
    log = DurableLog.open(tmp_path / "log.db")
    try:
        log._conn.execute("PRAGMA query_only = 1")  # every write fails: SQLITE_READONLY
        with pytest.raises(LogError) as caught:
            await log.append([reading("a", 1.0)])
        assert not isinstance(caught.value, LogFullError)
        cause = caught.value.__cause__
        assert isinstance(cause, sqlite3.Error)
        assert cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_READONLY
        assert "SQLITE_READONLY" in str(caught.value)
        log._conn.execute("PRAGMA query_only = 0")
        assert await log.append([reading("a", 2.0)]) == [1], "the writer lives on"
    finally:
        await log.close()


async def test_the_log_as_a_context_manager_commits_what_was_queued_on_exit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    async with DurableLog.open(path, commit_window=3600.0) as log:
        await log.append([reading("a", 1.0)])
        log.submit([reading("a", float(i)) for i in range(2, 6)])  # nobody waits for these
    assert seqs_on_disk(path) == [1, 2, 3, 4, 5]
    with pytest.raises(LogClosedError):
        await log.append([reading("a", 9.0)])
