"""`tracseq-edge status` on a real log, as an operator (or a monitoring job) runs it."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from edge.alarms.store import ActiveAlarm, alarm_key, encode
from edge.entry import Entry
from edge.log import DurableLog
from runtime import events
from tests.drivers.mqtt_support import mosquitto_pub
from tests.edge.daemon_proc import start_daemon
from tests.servers import Server, wait_until

REPO = Path(__file__).resolve().parents[2]

HA_SENSORS = """
connections:
  broker:
    mqtt: {{url: 'mqtt://127.0.0.1:{port}', client_id: gw-status}}
sensors:
  - id: freezer-b.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: homeassistant/sensor/freezer_b/state}}
  - id: fridge-2.temp
    kind: fridge
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: homeassistant/sensor/fridge_2/state,
             no_value_states: [OFFLINE]}}
"""


def status_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tracseq-edge status -c sensors.yaml` in `workdir`, as an operator runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "edge", "status", "-c", "sensors.yaml", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result


def run_status(workdir: Path, *args: str) -> str:
    return status_cli(workdir, *args).stdout


def unavailable_now(workdir: Path) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = orjson.loads(run_status(workdir, "--json"))["unavailable"]
    return listed


def readings_of(log_db: Path, sensor: str) -> int:
    with sqlite3.connect(log_db) as conn:
        query = "SELECT count(*) FROM entries WHERE type = ? AND subject = ?"
        count: int = conn.execute(query, (events.READING, sensor)).fetchone()[0]
    conn.close()
    return count


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
    result = status_cli(tmp_path, "--json")
    assert "ERROR" not in result.stderr and "error" not in result.stderr.lower()
    status = orjson.loads(result.stdout)
    assert [a["alarm_id"] for a in status["active_alarms"]] == ["gw:7"]
    assert status["last_sync"] is not None
    assert status["last_seq"] == 1 and status["entries"] == 1


def test_status_lists_sensors_reporting_unavailable_until_they_have_a_value(
    mosquitto: Server, tmp_path: Path
) -> None:
    """A Home Assistant sensor that says `unavailable` (or a configured word) is listed by
    status with since when, also after the daemon stopped; its next value takes it off."""
    daemon = start_daemon(tmp_path, HA_SENSORS.format(port=mosquitto.port))
    freezer = "homeassistant/sensor/freezer_b/state"
    fridge = "homeassistant/sensor/fridge_2/state"
    try:
        wait_until(lambda: "MQTT broker connected" in daemon.stderr(), timeout=15)
        assert unavailable_now(tmp_path) == []
        mosquitto_pub(mosquitto.port, freezer, b"-19.6")
        mosquitto_pub(mosquitto.port, freezer, b"unavailable")
        mosquitto_pub(mosquitto.port, fridge, b"offline")
        wait_until(lambda: len(unavailable_now(tmp_path)) == 2, timeout=20, interval=0.2)
        listed = unavailable_now(tmp_path)
        assert [u["sensor"] for u in listed] == ["freezer-b.temp", "fridge-2.temp"]
        assert all(u["since"].endswith("Z") for u in listed)
        text = run_status(tmp_path)
        assert "sensors reporting unavailable: 2" in text
        assert f"  freezer-b.temp since {listed[0]['since']}" in text

        mosquitto_pub(mosquitto.port, fridge, b"4.2")
        wait_until(lambda: readings_of(tmp_path / "var" / "log.db", "fridge-2.temp") == 1)
        assert [u["sensor"] for u in unavailable_now(tmp_path)] == ["freezer-b.temp"]
    finally:
        assert daemon.stop() == 0
    # The log keeps it: the sensor's last word was still "unavailable" when the daemon stopped.
    assert unavailable_now(tmp_path) == listed[:1]
    assert "sensors reporting unavailable: 1" in run_status(tmp_path)


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
