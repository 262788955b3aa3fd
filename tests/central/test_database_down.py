"""A database that is down is retried, shown in /readyz, and answered 503 + Retry-After;
a bug (anything but an unreachable or busy database) is a 500 logged with its traceback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from tests.central.conftest import fresh_db, reading, start_central
from tests.servers import free_port, wait_until
from tests.system.pgproxy import TcpProxy


def test_unreachable_database_is_503_not_a_crash(tmp_path: Path) -> None:
    db = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with start_central(db, "postgres", tmp_path) as central:
        assert central.client.get(central.url + "/healthz").status_code == 200
        ready = central.client.get(central.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        answer = central.ingest("tsg_whatever", [reading("gw", 1, "s", 1.0)])
        assert answer.status_code == 503
        assert "retry-after" in answer.headers
        assert central.server.proc is not None and central.server.proc.poll() is None
        read = central.client.get(
            central.url + "/api/v1/sensors", headers={"authorization": "Bearer tsk_x"}
        )
        assert read.status_code == 503


UNAVAILABLE = {"error": "database unavailable, retry later"}


def test_postgres_stopped_while_serving_is_503_and_heals(tmp_path: Path, postgres_url: str) -> None:
    with fresh_db("postgres", tmp_path, postgres_url) as db:
        target = urlsplit(db)
        proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 5432))
        via_proxy = db.replace(target.netloc, f"{target.username}@127.0.0.1:{proxy.port}", 1)
        try:
            with start_central(via_proxy, "postgres", tmp_path) as central:
                central.db = db  # the CLI creates keys directly, not through the proxy
                assert central.get("/api/v1/sensors").status_code == 200
                ack = "/api/v1/alarms/nope/ack"
                proxy.cut()  # what central sees when PostgreSQL stops
                for answer in (
                    central.get("/api/v1/sensors"),
                    central.post(ack, {"by": "ann", "comment": "checked"}),
                    central.client.post(
                        central.url + "/api/v1/session", json={"username": "a", "password": "b"}
                    ),
                ):
                    assert answer.status_code == 503, answer.text
                    assert answer.json() == UNAVAILABLE
                    assert answer.headers["retry-after"] == "5"
                proxy.restore()
                wait_until(lambda: central.get("/api/v1/sensors").status_code == 200)
                assert central.post(ack, {"by": "ann", "comment": "checked"}).status_code == 404
                assert "Traceback" not in central.server.log.read_text()
        finally:
            proxy.close()


def test_locked_sqlite_is_503_not_500(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    with start_central(db, "sqlite", tmp_path) as central:
        key = central.key("operator")
        ack = "/api/v1/alarms/nope/ack"
        assert central.post(ack, {"by": "ann", "comment": "checked"}).status_code == 404
        holder = sqlite3.connect(tmp_path / "central.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past busy_timeout
            answer = central.post(ack, {"by": "ann", "comment": "checked"})
            assert answer.status_code == 503, answer.text
            assert answer.json() == UNAVAILABLE and answer.headers["retry-after"] == "5"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert key == central.key("operator")
        assert central.post(ack, {"by": "ann", "comment": "checked"}).status_code == 404


def test_a_bug_is_500_with_its_traceback_never_503(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    with start_central(db, "sqlite", tmp_path) as central:
        assert central.ingest(central.token("gw"), [reading("gw", 1, "s1", 4.0)]).status_code == 200
        assert central.get("/api/v1/sensors").status_code == 200
        with contextlib.closing(sqlite3.connect(tmp_path / "central.db")) as conn, conn:
            # Damaged by hand: a row our code cannot read, and a table that is gone.
            conn.execute("UPDATE sensors SET alarms = '{not json' WHERE id = 's1'")
            conn.execute("DROP TABLE audit")
        for path, cause in (("/api/v1/sensors", "JSONDecodeError"), ("/api/v1/audit", "audit")):
            answer = central.get(path)
            assert answer.status_code == 500, answer.text
            assert "unavailable" not in answer.text
            wait_until(lambda path=path: f"GET {path} failed" in central.server.log.read_text())
            log = central.server.log.read_text()
            assert "Traceback (most recent call last)" in log and cause in log
