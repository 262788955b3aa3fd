"""The scripted fault schedule: each fault is injected while readings flow, held, healed,
and followed by a wait until readings reach central again.

`quick_plan()` holds each fault for seconds (the test command); `long_plan()` repeats the
schedule with the issue's durations (SIGSTOP 60 s, ...) for hours (`pytest --long`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from runtime.durations import parse_duration
from tests.system.procs import wait_for
from tests.system.stack import GATEWAY, Stack


@dataclass
class Timing:
    hold: float  # how long a fault lasts (pause, cut, disk full, clock step)
    pause: float  # SIGSTOP length
    flow: int  # readings central must get after a fault before the next one


@dataclass
class Journal:
    """What happened when, for the checker and the report."""

    restart_windows: list[tuple[float, float]] = field(default_factory=list)
    disk_full_windows: list[tuple[float, float]] = field(default_factory=list)
    done: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Fault = Callable[[Stack, Timing, Journal], None]


def central_count(stack: Stack) -> int:
    with psycopg.connect(stack.db_url) as conn:
        row = conn.execute("SELECT count(*) FROM readings WHERE gateway = %s", (GATEWAY,))
        return int(row.fetchone()[0])  # type: ignore[index]


def wait_flow(stack: Stack, timing: Timing, what: str, timeout: float = 90.0) -> None:
    """Readings keep reaching central: `timing.flow` more than now."""
    target = central_count(stack) + timing.flow
    wait_for(lambda: central_count(stack) >= target, timeout, f"readings flow after {what}")


def _edge_restart(stack: Stack, journal: Journal) -> None:
    start = time.time()
    stack.edge.kill9()
    stack.edge.start()
    # The serial port and the RTU link are reopened shortly after /healthz answers.
    journal.restart_windows.append((start - 1.0, time.time() + 3.0))


def kill_edge(stack: Stack, timing: Timing, journal: Journal) -> None:
    _edge_restart(stack, journal)
    wait_flow(stack, timing, "edge kill -9")


def restart_mosquitto(stack: Stack, timing: Timing, journal: Journal) -> None:
    stack.broker.restart()
    wait_flow(stack, timing, "mosquitto restart")


def restart_redis(stack: Stack, timing: Timing, journal: Journal) -> None:
    """No persistence: stream, groups and the publisher's marker are gone."""
    stack.redis.restart()
    client = redis.Redis.from_url(stack.redis_url)
    try:
        wait_for(lambda: client.xlen("tracseq:events") > 0, 60, "the stream is re-published")
    finally:
        client.close()
    wait_flow(stack, timing, "redis-server restart")


def kill_analytics(stack: Stack, timing: Timing, journal: Journal) -> None:
    if stack.analytics is None:
        return
    stack.analytics.kill9()
    stack.analytics.start()
    wait_flow(stack, timing, "analytics kill -9")


def kill_central(stack: Stack, timing: Timing, journal: Journal) -> None:
    stack.central.kill9()
    stack.central.start()
    wait_flow(stack, timing, "central kill -9")


def cut_postgres(stack: Stack, timing: Timing, journal: Journal) -> None:
    """Every connection central has is closed, new ones refused, for `hold` seconds."""
    stack.proxy.cut()
    time.sleep(timing.hold)  # the outage itself
    stack.proxy.restore()
    wait_flow(stack, timing, "PostgreSQL outage")


def pause_edge(stack: Stack, timing: Timing, journal: Journal) -> None:
    stack.edge.pause()
    time.sleep(timing.pause)  # the stop itself
    stack.edge.resume()
    wait_flow(stack, timing, "SIGSTOP/SIGCONT of the edge")


def fill_disk(stack: Stack, timing: Timing, journal: Journal) -> None:
    """Fill the edge's tmpfs but for 256 KiB; the log must make room and say so."""
    if not stack.data_tmpfs:
        journal.notes.append("disk full: skipped (no tmpfs: not root or mount refused)")
        return
    ballast = stack.data_dir / "ballast"
    start = time.time()
    stats = os.statvfs(stack.data_dir)
    free = stats.f_bavail * stats.f_frsize
    chunk = b"\0" * (1 << 20)
    with ballast.open("wb") as out:
        left = max(0, free - 256 * 1024)
        try:
            while left > 0:
                left -= out.write(chunk[: min(len(chunk), left)])
        except OSError:
            pass  # the edge took some of it meanwhile: the disk is full either way
    try:
        # The 256 KiB left fill at the rate the log grows: ~5 KiB/s of committed readings,
        # in steps as the WAL is checkpointed into the database; under load (fewer
        # readings) that took over 60 s in two of three runs.
        wait_for(lambda: "log full" in stack.edge.tail(200_000).lower(), 240, "edge says LOG FULL")
        time.sleep(timing.hold)  # the disk stays full
        assert stack.edge.alive(), stack.edge.tail()
    finally:
        ballast.unlink()
        freed = time.time()
        # Readings the edge received until its first commit after the space came back may
        # be lost (Modbus polls, serial lines: documented); the window lasts until then.
        before = _last_seq(stack.data_dir / "log.db")
        try:
            wait_for(lambda: _last_seq(stack.data_dir / "log.db") > before, 60, "a commit")
        finally:
            journal.disk_full_windows.append((start, max(freed + 2.0, time.time() + 1.0)))
    wait_flow(stack, timing, "disk full")


def _last_seq(log_db: Path) -> int:
    """The newest committed seq in the edge's log (read-only; 0 while unreadable)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{log_db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT max(seq) FROM entries").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)


def step_clock(stack: Stack, timing: Timing, journal: Journal) -> None:
    """The edge's wall clock jumps an hour forward, then back (monotonic time untouched)."""
    if stack.clock_file is None:
        journal.notes.append("clock step: skipped (libfaketime not installed)")
        return
    stack.step_clock("+1h")
    time.sleep(timing.hold)
    wait_flow(stack, timing, "wall clock +1h")
    stack.step_clock("+0")
    time.sleep(timing.hold)
    wait_flow(stack, timing, "wall clock back an hour")


def offline_alarms(stack: Stack, sensor: str) -> tuple[int, int]:
    """(raised, cleared) `offline` alarm events of `sensor` central holds."""
    with psycopg.connect(stack.db_url) as conn:
        rows = conn.execute(
            "SELECT type, data FROM events WHERE gateway = %s AND subject = %s AND type IN "
            "('org.tracseq.alarm.raised', 'org.tracseq.alarm.cleared')",
            (GATEWAY, sensor),
        ).fetchall()
    offline = [t for t, data in rows if json.loads(data).get("rule") == "offline"]
    return (
        sum(t.endswith("raised") for t in offline),
        sum(t.endswith("cleared") for t in offline),
    )


def wait_silenced_offline(stack: Stack, journal: Journal) -> None:
    """The scenario's silenced sensor has raised `offline` (central holds the event).

    An edge restart re-arms offline watches from the restart (docs/events.md), so a restart
    in the silence leaves less than `offline.after` to observe it: the edge is killed only
    after this, never while the silence is still being timed.
    """
    sensor = stack.options.silenced
    if sensor is None:
        return
    start = time.monotonic()
    timeout = 2 * parse_duration(stack.options.offline_after) + 60
    try:
        wait_for(
            lambda: offline_alarms(stack, sensor)[0] > 0,
            timeout,
            f"{sensor} offline alarm (the edge must receive it before its dropout starts)",
        )
    except TimeoutError as exc:
        clues = [
            line
            for line in stack.edge.tail(1_000_000).splitlines()
            if sensor in line or "failed" in line or "start #" in line
        ]
        raise TimeoutError(f"{exc}; edge log:\n" + "\n".join(clues[-40:])) from None
    journal.notes.append(
        f"{sensor}: offline raised before the edge restart "
        f"(waited {time.monotonic() - start:.0f}s for it)"
    )


def wait_silenced_back(stack: Stack, journal: Journal) -> None:
    """The silenced sensor's dropout is over: its `offline` alarm was cleared (so the
    simulator is not stopped while the silence is still on)."""
    sensor = stack.options.silenced
    if sensor is None:
        return
    start = time.monotonic()
    wait_for(lambda: offline_alarms(stack, sensor)[1] > 0, 120, f"{sensor} offline cleared")
    journal.notes.append(
        f"{sensor}: offline cleared by its next reading (waited {time.monotonic() - start:.0f}s)"
    )


# The edge restart comes after the faults that leave the edge running, behind a wait for the
# silenced sensor's `offline` alarm (see wait_silenced_offline). The disk fault goes
# before it: right after a restart the edge took ~35 s to show `log full` in one run.
SCHEDULE: list[tuple[str, Fault]] = [
    ("mosquitto restart", restart_mosquitto),
    ("redis-server restart (no persistence)", restart_redis),
    ("analytics kill -9 + restart", kill_analytics),
    ("central kill -9 + restart", kill_central),
    ("PostgreSQL outage (proxy cut)", cut_postgres),
    ("edge SIGSTOP/SIGCONT", pause_edge),
    ("edge data dir full", fill_disk),
    ("edge kill -9 + restart", kill_edge),
    ("edge wall clock +1h / -1h", step_clock),
]


def run_schedule(stack: Stack, timing: Timing, journal: Journal, rounds: int = 1) -> None:
    for _ in range(rounds):
        for name, fault in SCHEDULE:
            if fault is kill_edge:
                wait_silenced_offline(stack, journal)
            fault(stack, timing, journal)
            journal.done.append((name, time.time()))
