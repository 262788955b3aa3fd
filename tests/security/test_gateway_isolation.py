"""Gateway isolation (issue 13, item 1): a gateway token writes only its own gateway's data.

Gateway B, with its own valid token, tries what the review did to gateway A: clear A's
alarm, redescribe A's sensor, send a reading for it, raise an alarm on it. Each is a 400
naming the event's index and field, nothing of the batch is stored, A's data is unchanged;
moving a sensor is the audited admin command.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import events as ev
from tests.central.conftest import (
    BACKENDS,
    Central,
    event,
    fresh_db,
    gateway_name,
    reading,
    run_cli,
    start_central,
)


@pytest.fixture(scope="module", params=BACKENDS)
def central(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[Central]:
    workdir = tmp_path_factory.mktemp(f"isolation-{request.param}")
    with (
        fresh_db(request.param, workdir, postgres_url) as db,
        start_central(db, request.param, workdir) as server,
    ):
        yield server


class Gateway:
    def __init__(self, central: Central) -> None:
        self.central = central
        self.id = gateway_name()
        self.token = central.token(self.id)
        self.seq = 0

    def send(self, *items: dict[str, Any]) -> Any:
        return self.central.ingest(self.token, list(items))

    def next(self) -> int:
        self.seq += 1
        return self.seq

    def reading(self, sensor: str, value: float) -> dict[str, Any]:
        return reading(self.id, self.next(), sensor, value)

    def described(self, sensor: str, high: float) -> dict[str, Any]:
        alarms = {"high": {"above": high}}
        return event(self.id, self.next(), ev.SENSOR_DESCRIBED, sensor, kind="freezer",
                     unit="degC", quantity="temperature", alarms=alarms)  # fmt: skip

    def alarm(self, type_: str, sensor: str, alarm_id: str, value: float) -> dict[str, Any]:
        extra = {"duration_s": 60.0} if type_ == ev.ALARM_CLEARED else {"threshold": -70.0}
        return event(self.id, self.next(), type_, sensor, rule="high", value=value,
                     since=ev.format_time(time.time()), alarm_id=alarm_id, **extra)  # fmt: skip


def twin(central: Central, sensor: str) -> dict[str, Any]:
    return {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]


def active(central: Central) -> set[str]:
    return {a["alarm_id"] for a in central.get("/api/v1/alarms").json()["alarms"]}


def test_a_gateway_cannot_change_another_gateways_sensor_or_alarm(central: Central) -> None:
    a, b = Gateway(central), Gateway(central)
    sensor = f"{a.id}.ult"
    alarm_id = f"{a.id}:{sensor}:high:1"
    setup = [a.described(sensor, -70.0), a.reading(sensor, -80.0)]
    assert a.send(*setup, a.alarm(ev.ALARM_RAISED, sensor, alarm_id, -65.0)).status_code == 200

    # An alarm id must start with the token's gateway: checked before anything is stored.
    r = b.send(b.reading(f"{b.id}.own", 1.0), b.alarm(ev.ALARM_CLEARED, sensor, alarm_id, -90.0))
    assert r.status_code == 400
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "data.alarm_id")]
    assert alarm_id in active(central)

    # The sensor is A's: B's reading, description and alarm on it are refused, by index.
    own = b.reading(f"{b.id}.own", 2.0)
    attempts = [
        own,
        b.described(sensor, 1000.0),
        b.reading(sensor, 31.5),
        b.alarm(ev.ALARM_RAISED, sensor, f"{b.id}:{sensor}:high:2", 31.5),
    ]
    r = b.send(*attempts)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(i, "subject") for i in (1, 2, 3)]
    assert a.id in errors[0]["message"] and "sensor move" in errors[0]["message"]
    # Rolled back whole: not even B's own reading is stored, so the uploader can bisect.
    assert central.count("readings", "gateway = ?", (b.id,)) == 0
    after = twin(central, sensor)
    assert after["gateway"] == a.id
    assert after["last_value"] == -80.0
    assert after["alarms"] == {"high": {"above": -70.0}}
    assert alarm_id in active(central)
    assert f"{b.id}:{sensor}:high:2" not in active(central)
    assert "refused a batch from tracseq-edge/" + b.id in central.server.log.read_text()

    # B's own data alone goes through; A keeps writing its sensor.
    assert b.send(own).status_code == 200
    assert a.send(a.reading(sensor, -81.0)).status_code == 200
    assert twin(central, sensor)["last_value"] == -81.0


def test_a_gateway_cannot_clear_centrals_own_alarms(central: Central) -> None:
    """A gateway named `central` matches the prefix of central's `gateway_offline` ids."""
    gw = Gateway(central)
    gw.id = "central"
    gw.token = central.token("central")
    victim = gateway_name()
    alarm_id = f"central:gateway_offline:{victim}:1"
    when = time.time()
    sql_insert(central, alarm_id, victim, when)
    r = gw.send(gw.alarm(ev.ALARM_CLEARED, victim, alarm_id, 0.0))
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "data.alarm_id"
    assert alarm_id in active(central)


def test_moving_a_sensor_is_an_audited_admin_command(central: Central, tmp_path: Path) -> None:
    a, b = Gateway(central), Gateway(central)
    sensor = f"{a.id}.moved"
    assert a.send(a.reading(sensor, -80.0)).status_code == 200
    assert b.send(b.reading(sensor, -79.0)).status_code == 400

    code, out, err = run_cli("sensor", "move", sensor, "--to", b.id, "--db", central.db)
    assert code == 0, err
    assert b.id in out
    assert b.send(b.reading(sensor, -79.0)).status_code == 200
    assert a.send(a.reading(sensor, -78.0)).status_code == 400
    assert twin(central, sensor)["gateway"] == b.id
    rows = central.get("/api/v1/audit", role="admin").json()["entries"]
    move = next(e for e in rows if e["action"] == "sensor.move" and e["target"] == sensor)
    assert move["actor"].startswith("cli:")
    assert a.id in move["old_value"] and b.id in move["new_value"]

    code, _, err = run_cli("sensor", "move", "no-such-sensor", "--to", b.id, "--db", central.db)
    assert code == 2 and "no sensor" in err


def sql_insert(central: Central, alarm_id: str, gateway: str, when: float) -> None:
    """An active central alarm, written straight to the database."""
    import contextlib
    import sqlite3

    import psycopg

    statement = """INSERT INTO alarms (alarm_id, origin, gateway, subject, rule, raised_at)
        VALUES (?, 'central', ?, ?, 'gateway_offline', ?)"""
    params = (alarm_id, gateway, gateway, when)
    if central.backend == "sqlite":
        path = central.db.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(statement, params)
        return
    with psycopg.connect(central.db, autocommit=True) as conn:
        conn.execute(statement.replace("?", "%s"), params)
