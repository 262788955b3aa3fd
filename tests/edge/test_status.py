"""`tracseq-edge status` on a real log, as an operator (or a monitoring job) runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson

from edge.alarms.store import ActiveAlarm, alarm_key, encode
from edge.entry import Entry
from edge.log import DurableLog
from runtime import events

REPO = Path(__file__).resolve().parents[2]


def test_status_reads_a_log_with_state_without_error_lines(tmp_path: Path) -> None:
    """Every component's state is in the table (rules checkpoint, seen sensors, sync, an
    active alarm); status shows the alarm and the last sync and logs nothing at error level
    (before, it handed the whole table to the alarm reader, which logged each non-alarm key
    as unreadable — on every call)."""
    (tmp_path / "sensors.yaml").write_text(
        "gateway:\n  id: gw\n  data_dir: ./var\n  listen: 127.0.0.1:18999\n"
    )
    now = time.time()
    alarm = ActiveAlarm("gw:7", "ult.temp", "high", now - 60, -70.0, -65.0, now - 30)
    asyncio.run(_fill(tmp_path / "var" / "log.db", now, alarm))
    result = subprocess.run(
        [sys.executable, "-m", "edge", "status", "-c", "sensors.yaml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr and "error" not in result.stderr.lower()
    status = orjson.loads(result.stdout)
    assert [a["alarm_id"] for a in status["active_alarms"]] == ["gw:7"]
    assert status["last_sync"] is not None
    assert status["last_seq"] == 1 and status["entries"] == 1


async def _fill(path: Path, now: float, alarm: ActiveAlarm) -> None:
    async with DurableLog.open(path) as log:
        await log.append(
            [Entry(events.READING, "ult.temp", now, now, {"value": -65.0})],
            state={
                alarm_key("ult.temp", "high"): encode(alarm, None),
                "rules:seq": b"1",
                "rules:seen:ult-3.temp": b"1",
                "sync:last_ok": repr(now).encode(),
                "gateway:described": b"{}",
            },
        )
