"""The whole stack under a scripted schedule of faults; nothing lost, nothing doubled.

Quick form (the README's test command): every fault once, each held for seconds.
`pytest tests/system --long --timeout 0`: rounds of the schedule, the issue's durations, hours.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import redis

from tests.system.checker import RESTARTED, Windows, check, modbus_failed_polls
from tests.system.faults import Journal, Timing, run_schedule, wait_silenced_back
from tests.system.procs import wait_for
from tests.system.stack import GATEWAY, StackOptions, running_stack

SILENCED = "ult-F12.temp"


def _door_openings(count: int, every_min: int, ults: int) -> list[str]:
    """A 2-minute (simulated) door opening every `every_min` on F01.. F11 in turn."""
    return [f"door-open:F{1 + i % (ults - 1):02d}@{1 + i * every_min}m:2m" for i in range(count)]


def _options(long_form: bool, hours: float) -> tuple[StackOptions, Timing, int]:
    if long_form:
        minutes = int(hours * 60)
        options = StackOptions(
            offline_after="5m",
            scenario=[*_door_openings(minutes * 60 // 8, 8, 12), "dropout:F12@30m:480m"],
            silenced=SILENCED,
        )
        return options, Timing(hold=60.0, pause=60.0, flow=2000), 10_000
    # F12 goes silent 12 s (simulated 12 min) after the simulator starts, once the edge has
    # seen it (a loaded machine may take seconds to start the edge), for 45 s: 30 s to raise
    # `offline` (the edge restart waits for it) and 15 s of margin, then its next reading
    # clears it.
    options = StackOptions(
        offline_after="30s",
        scenario=[*_door_openings(40, 8, 12), "dropout:F12@12m:45m"],
        silenced=SILENCED,
    )
    return options, Timing(hold=4.0, pause=5.0, flow=60), 1


def _windows(journal: Journal) -> Windows:
    return {
        RESTARTED: journal.restart_windows,
        "while the disk was full": journal.disk_full_windows,
    }


def _analytics_caught_up(url: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        for group in client.xinfo_groups("tracseq:events"):
            if group["name"] == b"tracseq-analytics":
                return bool(group["lag"] == 0 and group["pending"] == 0)
        return False
    except redis.RedisError:
        return False
    finally:
        client.close()


def _keep_untimed(db_url: str, path: Path) -> None:
    """Central's readings without a sensor time, kept next to the record and the edge's
    log: the database is dropped with the stack, and a failure is diagnosed from these."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT sensor, time, value, seq FROM readings WHERE gateway = %s "
            "AND sensor IN ('cold-room-1.temp', 'incubator-3.co2', 'ln2-dewar-1.level') "
            "ORDER BY seq",
            (GATEWAY,),
        ).fetchall()
    path.write_text("".join(f"{s}\t{t}\t{v}\t{q}\n" for s, t, v, q in rows))


def _keep_alarms(db_url: str, path: Path) -> None:
    """Central's alarm events and the ULT readings the checker replays the `high` rule
    over, kept for the same reason: an alarm problem is diagnosed from these."""
    with psycopg.connect(db_url) as conn:
        events = conn.execute(
            "SELECT seq, type, subject, time, data FROM events WHERE gateway = %s "
            "AND type LIKE 'org.tracseq.alarm.%%' ORDER BY seq",
            (GATEWAY,),
        ).fetchall()
        rows = conn.execute(
            "SELECT sensor, time, value, seq FROM readings WHERE gateway = %s "
            "AND sensor LIKE 'ult-%%' ORDER BY seq",
            (GATEWAY,),
        ).fetchall()
    path.write_text(
        "".join(f"event\t{i}\t{t}\t{s}\t{when}\t{d}\n" for i, t, s, when, d in events)
        + "".join(f"reading\t{s}\t{t}\t{v}\t{q}\n" for s, t, v, q in rows)
    )


@pytest.mark.slow
def test_no_reading_or_alarm_lost_or_doubled_under_faults(
    tmp_path: Path, postgres_url: str, long_form: bool, long_hours: float
) -> None:
    options, timing, rounds = _options(long_form, long_hours)
    journal = Journal()
    started = time.monotonic()
    deadline = started + long_hours * 3600
    with running_stack(tmp_path / "stack", postgres_url, options) as stack:
        wait_for(lambda: stack.central.alive(), 5, "central")
        for _ in range(rounds):
            run_schedule(stack, timing, journal)
            if time.monotonic() > deadline:
                break
        wait_silenced_back(stack, journal)
        stopped_at = time.time()
        assert stack.simulator.stop() == 0, stack.simulator.tail()

        def delivered() -> bool:
            report = check(
                stack.record, stack.db_url, stack.redis_url,
                windows=_windows(journal), silenced={SILENCED},
                modbus_failed=modbus_failed_polls(stack.edge.log),
                simulator_stopped_at=stopped_at,
                edge_log=stack.data_dir / "log.db",
            )  # fmt: skip
            return not report.lost

        wait_for(delivered, 120, "central holds everything the simulator sent")
        wait_for(lambda: _analytics_caught_up(stack.redis_url), 120, "analytics caught up")
        report = check(
            stack.record, stack.db_url, stack.redis_url,
            windows=_windows(journal), silenced={SILENCED},
            modbus_failed=modbus_failed_polls(stack.edge.log),
            simulator_stopped_at=stopped_at,
            edge_log=stack.data_dir / "log.db",
        )  # fmt: skip
        faults = ", ".join(name for name, _ in journal.done)
        print(f"\nfaults injected ({len(journal.done)}): {faults}")
        for note in journal.notes:
            print(f"note: {note}")
        print(report.text())
        _keep_untimed(stack.db_url, stack.root / "central-untimed.tsv")
        _keep_alarms(stack.db_url, stack.root / "central-alarms.tsv")
        print(f"duration: {time.monotonic() - started:.0f}s")
        assert report.ok, report.text()
        assert stack.edge.stop() == 0, stack.edge.tail()
