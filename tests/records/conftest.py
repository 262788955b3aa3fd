"""A central with a few days of one gateway's data, and a way to read every table back."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runtime import events as ev
from tests.central.conftest import (
    BACKENDS,
    Central,
    event,
    fresh_db,
    gateway_name,
    reading,
    start_central,
)
from tests.servers import wait_until

DAY = 86_400.0
# Three whole UTC days, the last one ending a day before now: archive dates are whole days.
START = (time.time() // DAY - 4) * DAY
TABLES = (
    "readings", "events", "sensors", "gateways", "alarms", "alarm_acks", "users", "reading_rollups",
)  # fmt: skip


def seed(central: Central, gateway: str, sensor: str, per_day: int = 48) -> int:
    """sensor.described, `per_day` readings a day for three days, an alarm raised, cleared
    and acknowledged. Returns the next free seq."""
    token = central.token(gateway)
    described = event(
        gateway,
        1,
        ev.SENSOR_DESCRIBED,
        subject=sensor,
        at=START,
        kind="freezer",
        quantity="temperature",
        unit="degC",
        site="building-a/room-1",
        protocol="mqtt",
        alarms={"high": {"above": -70, "for_s": 0, "clear_below": -72}},
    )
    batch = [described]
    seq = 2
    for _ in range(3 * per_day):
        batch.append(seeded_reading(gateway, sensor, seq, per_day))
        seq += 1
    raised_at = START + DAY + 3 * DAY / per_day
    alarm_id = f"{gateway}:{seq}"
    batch.append(
        event(
            gateway,
            seq,
            ev.ALARM_RAISED,
            subject=sensor,
            at=raised_at,
            rule="high",
            threshold=-70,
            value=-60.0,
            since=ev.format_time(raised_at),
            alarm_id=alarm_id,
        )
    )
    seq += 1
    batch.append(
        event(
            gateway,
            seq,
            ev.ALARM_CLEARED,
            subject=sensor,
            at=raised_at + 600,
            rule="high",
            value=-80.0,
            since=ev.format_time(raised_at),
            alarm_id=alarm_id,
            duration_s=600,
        )
    )
    seq += 1
    answer = central.ingest(token, batch)
    assert answer.status_code == 200, answer.text
    ack = central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "ada", "comment": "door left open"})
    assert ack.status_code in (200, 201), ack.text
    return seq


def seeded_reading(gateway: str, sensor: str, seq: int, per_day: int = 48) -> dict[str, Any]:
    """The reading `seed` sent with this seq, exactly as the gateway would resend it."""
    i = seq - 2
    value = -60.0 if i == per_day + 3 else -80.0 + (i % 5) * 0.1
    return reading(gateway, seq, sensor, value, at=START + i * DAY / per_day)


def rows(db: str, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table`, in a stable order, read from the database itself."""
    order = "1"
    if db.startswith("sqlite"):
        path = db.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    with psycopg.connect(db) as conn:
        return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]


@contextlib.contextmanager
def empty_db(backend: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    """A database central has never seen (PostgreSQL: a new database, dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'restored.db'}"
        return
    import secrets

    name = "tracseq_restore_" + secrets.token_hex(5)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = postgres_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def with_schema(url: str, source_db: str) -> str:
    """`url` reading the schema `source_db` names (a PostgreSQL backup restores its schema)."""
    if "options=" not in source_db:
        return url
    return url + "?" + source_db.split("?", 1)[1]


@pytest.fixture(params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[tuple[Central, str, str]]:
    """A running central with seeded data: (central, gateway, sensor)."""
    with (
        fresh_db(request.param, tmp_path, postgres_url) as db,
        start_central(db, request.param, tmp_path, "--offline-after", "1h") as central,
    ):
        wait_until(lambda: central.client.get(f"{central.url}/readyz").status_code == 200, 20)
        gateway, sensor = gateway_name(), "ult-F1.temp"
        seed(central, gateway, sensor)
        yield central, gateway, sensor
