"""The demo's terminal names each alarm raised, acknowledged and cleared (issue 19), read
from a real central; what was stored before the demo started is not repeated."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import events as ev
from sim.demo_alarms import AlarmLog
from tests.central.conftest import Central, event, fresh_db, reading, start_central


@pytest.fixture()
def central(tmp_path: Path, postgres_url: str) -> Iterator[Central]:
    with (
        fresh_db("sqlite", tmp_path, postgres_url) as db,
        start_central(db, "sqlite", tmp_path) as c,
    ):
        yield c


def raised(seq: int, alarm_id: str, rule: str, value: float, threshold: float) -> dict[str, object]:
    return event("lab3-edge-01", seq, ev.ALARM_RAISED, "ult-F03.temp", rule=rule,
                 threshold=threshold, value=value, alarm_id=alarm_id)  # fmt: skip


def poll_until(log: AlarmLog, lines: list[str], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(lines) < count and time.monotonic() < deadline:
        log.poll()
        time.sleep(0.05)


def test_the_demo_prints_alarms_raised_acknowledged_and_cleared(central: Central) -> None:
    token = central.token("lab3-edge-01")
    central.ingest(token, [reading("lab3-edge-01", 1, "ult-F03.temp", -79.0)])  # unit degC
    central.ingest(token, [raised(4, "old", "high", -60.0, -70.0)])
    lines: list[str] = []
    log = AlarmLog(central.url, central.key(), lines.append, every=0.0)
    try:
        log.poll()  # the baseline: the old alarm is not printed
        central.ingest(token, [raised(2, "rate-1", "rate", 6.12, 1.0)])
        poll_until(log, lines, 1)
        assert lines == ["ALARM     ult-F03.temp rate: 6.12 °C/min (limit 1.00 °C/min)  [rate-1]"]
        ack = {"by": "ada", "comment": "compressor failed"}
        assert central.post("/api/v1/alarms/rate-1/ack", ack).status_code == 200
        poll_until(log, lines, 2)
        assert lines[1] == "ACKED     ult-F03.temp rate by ada: compressor failed"
        cleared = event("lab3-edge-01", 3, ev.ALARM_CLEARED, "ult-F03.temp", rule="rate",
                        value=0.1, alarm_id="rate-1", duration_s=95.0)  # fmt: skip
        central.ingest(token, [cleared])
        poll_until(log, lines, 3)
        assert lines[2] == "CLEARED   ult-F03.temp rate after 95 s"
        assert not [line for line in lines if "old" in line]
    finally:
        log.close()
