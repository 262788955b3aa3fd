"""Dashboard fixtures: a real central (uvicorn subprocess) with people and real data.

Data goes in through the real ingest API with a gateway token: sensor.described events
for a small fleet on two sites, a few hours of readings, and sensor ids made of SQL and
HTML on purpose. People are made with `tracseq-edge central user create`.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime import events as ev
from tests.central.conftest import Central, event, fresh_db, reading, run_cli, start_central

PASSWORD = "correct horse battery"
PEOPLE = {"ada": "admin", "olga": "operator", "victor": "viewer"}
XSS_ID = '<img src=x onerror="window.__xss=1">'
SQLI_ID = "fz'); DROP TABLE readings;--"
GATEWAY = "lab3-edge-01"
FLEET = [
    # id, site, kind, unit, high, low
    ("ult-F12.temp", "lab3", "freezer", "degC", -70.0, None),
    ("ult-F14.temp", "lab3", "freezer", "degC", -70.0, None),
    ("fridge-2.temp", "lab3", "fridge", "degC", 8.0, 2.0),
    ("inc-1.co2", "lab4", "incubator", "%", 5.5, 4.5),
    ("ln2-1.level", "lab4", "ln2", "%", None, 30.0),
    (XSS_ID, "lab4", "fridge", "degC", 8.0, 2.0),
    (SQLI_ID, "lab4", "fridge", "degC", 8.0, 2.0),
]
BASE = {"degC": -80.0, "%": 5.0}


@dataclass
class Site:
    """A running central with a gateway token and helpers to sign people in."""

    central: Central
    token: str
    workdir: Path
    seq: int = 0
    sessions: dict[str, tuple[httpx.Client, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.central.url

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, events: list[dict[str, Any]]) -> None:
        response = self.central.ingest(self.token, events)
        assert response.status_code == 200, response.text

    def reading(self, sensor: str, value: float, at: float | None = None) -> None:
        unit = next((f[3] for f in FLEET if f[0] == sensor), "degC")
        self.send([reading(GATEWAY, self.next_seq(), sensor, value, at, unit=unit)])

    def raise_alarm(self, sensor: str, value: float, threshold: float) -> str:
        alarm_id = f"{GATEWAY}:{sensor}:high:{secrets.token_hex(3)}"
        self.send(
            [
                event(
                    GATEWAY,
                    self.next_seq(),
                    ev.ALARM_RAISED,
                    sensor,
                    rule="high",
                    threshold=threshold,
                    value=value,
                    since=ev.format_time(time.time()),
                    alarm_id=alarm_id,
                )
            ]
        )
        return alarm_id

    def login(self, name: str) -> tuple[httpx.Client, str]:
        """An HTTP client signed in as `name` and its CSRF token."""
        if name not in self.sessions:
            client = httpx.Client(base_url=self.url, timeout=30)
            r = client.post("/api/v1/session", json={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.sessions[name] = (client, r.json()["csrf_token"])
        return self.sessions[name]

    def close(self) -> None:
        """Close the HTTP clients `login` opened (their sockets are not the GC's to close)."""
        for client, _ in self.sessions.values():
            client.close()
        self.sessions.clear()

    def sqlite_path(self) -> Path:
        return Path(self.central.db.removeprefix("sqlite:///"))


def make_people(db: str, workdir: Path) -> None:
    secret = workdir / "password"
    secret.write_text(PASSWORD + "\n")
    for name, role in PEOPLE.items():
        code, _, err = run_cli(
            "user", "create", name, "--role", role, "--password-file", str(secret), "--db", db
        )
        assert code == 0, err


def seed(site: Site) -> None:
    now = time.time()
    events: list[dict[str, Any]] = []
    for sensor, where, kind, unit, high, low in FLEET:
        alarms: dict[str, Any] = {"offline": {"after_s": 3600}}
        if high is not None:
            alarms["high"] = {"above": high, "for_s": 300}
        if low is not None:
            alarms["low"] = {"below": low, "for_s": 300}
        events.append(
            event(
                GATEWAY,
                site.next_seq(),
                ev.SENSOR_DESCRIBED,
                sensor,
                at=now - 7200,
                kind=kind,
                quantity="temperature",
                unit=unit,
                site=where,
                protocol="mqtt",
                alarms=alarms,
            )
        )
    for sensor, _, kind, unit, *_ in FLEET:
        base = {"freezer": -80.0, "fridge": 5.0, "incubator": 5.0, "ln2": 60.0}[kind]
        for i in range(36):  # three hours, every 5 minutes
            value = base + 0.8 * ((i * 7) % 11) / 11
            at = now - 3 * 3600 + i * 300
            events.append(reading(GATEWAY, site.next_seq(), sensor, value, at, unit=unit))
    site.send(events)


@contextlib.contextmanager
def seeded_site(
    workdir: Path, backend: str, postgres_url: str, *central_args: str, gateway: str = GATEWAY
) -> Iterator[Site]:
    """A central on a fresh `backend` database with the fleet seeded and three people."""
    with fresh_db(backend, workdir, postgres_url) as db:
        make_people(db, workdir)
        with start_central(db, backend, workdir, *central_args) as central:
            s = Site(central, central.token(gateway), workdir)
            seed(s)
            try:
                yield s
            finally:
                s.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    """A central on SQLite with the fleet seeded and three people."""
    workdir = tmp_path_factory.mktemp("dashboard")
    with seeded_site(workdir, "sqlite", postgres_url, "--offline-after", "1h") as s:
        yield s


def insert_million(
    path: Path, sensor: str, end: float, days: float = 30.0, count: int = 1_000_000
) -> None:
    """1 M readings of one sensor spread over `days` up to `end`, written straight into the
    database file (the ingest API would take minutes for this many)."""
    span = days * 86400
    step = span / count
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA synchronous=NORMAL")
        rows = (
            (
                f"bulk:{i}",
                "bulk",
                i,
                sensor,
                end - span + i * step,
                -80.0 + (i % 1000) / 500.0,
                "degC",
                "temperature",
                None,
                end,
            )
            for i in range(count)
        )
        with conn:
            conn.executemany(
                "INSERT INTO readings (id, gateway, seq, sensor, time, value, unit, quantity,"
                " received, ingested) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
