"""Zero loss across kill -9: 20,000 QoS 1 readings, the daemon SIGKILLed mid-stream and
started again; the log holds every reading exactly once (by sensor and sensor time)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import orjson

from tests.drivers.mqtt_support import publish_all, publisher
from tests.servers import Server, free_port, wait_until

TOTAL = 20_000
START_MS = 1_767_225_600_000
TRACSEQ_EDGE = Path(sys.executable).parent / "tracseq-edge"


def _config(tmp: Path, broker_port: int) -> Path:
    path = tmp / "sensors.yaml"
    path.write_text(
        f"""
gateway:
  id: kill-test
  data_dir: ./var
  listen: 127.0.0.1:{free_port()}
connections:
  lab-broker:
    mqtt: {{url: "mqtt://127.0.0.1:{broker_port}", client_id: kill-test-edge}}
sensors:
  - id: "ult-{{freezer}}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    source:
      {{connection: lab-broker, topic: "lab3/ult/{{freezer}}/telemetry", value: temp_c, time: ts}}
"""
    )
    return path


def _readings(db: Path) -> tuple[int, int]:
    """(rows, distinct (sensor, time)) of readings in the log; (0, 0) before it exists."""
    if not db.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT subject || '@' || time) FROM entries "
            "WHERE type = 'org.tracseq.reading'"
        ).fetchone()
    return int(rows), int(distinct)


class _Daemon:
    def __init__(self, config: Path, out: Path) -> None:
        self.out = out
        with out.open("ab") as sink:
            self.proc = subprocess.Popen(
                [str(TRACSEQ_EDGE), "run", "-c", str(config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=config.parent,
            )
        self.marker = out.read_text().count("MQTT lab-broker connected")

    def wait_connected(self) -> None:
        def connected() -> bool:
            assert self.proc.poll() is None, self.out.read_text()[-3000:]
            return self.out.read_text().count("MQTT lab-broker connected") > self.marker

        wait_until(connected, 30)


def test_no_reading_lost_or_doubled_across_kill_9(mosquitto: Server, tmp_path: Path) -> None:
    config = _config(tmp_path, mosquitto.port)
    db = tmp_path / "var" / "log.db"
    out = tmp_path / "daemon.out"
    out.touch()
    messages = [
        (
            f"lab3/ult/F{i % 40:02d}/telemetry",
            orjson.dumps({"ts": START_MS + i, "temp_c": -80.0 + (i % 50) / 10, "door": "closed"}),
        )
        for i in range(TOTAL)
    ]
    daemon = _Daemon(config, out)
    try:
        daemon.wait_connected()
        with publisher(mosquitto.port, "kill-test-publisher") as pub:
            sending = threading.Thread(target=publish_all, args=(pub, messages))
            sending.start()
            wait_until(lambda: _readings(db)[0] >= 3000, 60)
            os.kill(daemon.proc.pid, signal.SIGKILL)  # mid-stream
            daemon.proc.wait()
            at_kill = _readings(db)[0]
            sending.join()
        print(f"killed with {at_kill} of {TOTAL} readings committed")
        assert at_kill < TOTAL, "the kill came too late to test anything"
        daemon = _Daemon(config, out)
        daemon.wait_connected()
        wait_until(lambda: _readings(db)[1] >= TOTAL, 120)
        rows, distinct = _readings(db)
        assert (rows, distinct) == (TOTAL, TOTAL)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            times = {
                round(t * 1000)
                for (t,) in conn.execute(
                    "SELECT time FROM entries WHERE type = 'org.tracseq.reading'"
                )
            }
        assert times == {START_MS + i for i in range(TOTAL)}
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            try:
                daemon.proc.wait(20)
            except subprocess.TimeoutExpired:
                daemon.proc.kill()
                daemon.proc.wait()
