"""Two watchdogs raising the same gateway_offline at the same instant store one alarm."""

from __future__ import annotations

import threading
import time

import psycopg

from central.storage import write
from central.storage.postgres import PostgresDialect
from central.storage.records import OfflineAlarm
from runtime import events as ev
from tests.central.conftest import event, gateway_name
from tests.scale.conftest import Pair
from tests.servers import wait_until


def test_second_raise_waits_for_the_first_and_then_raises_nothing(pair: Pair) -> None:
    gw = gateway_name()
    beat = event(gw, 1, ev.GATEWAY_HEARTBEAT, uptime_s=1, pending=0)
    assert pair.a.ingest(pair.a.token(gw), [beat]).status_code == 200
    dialect = PostgresDialect()
    later = time.time() + 3600  # the gateway has been silent since long before this cutoff
    results: list[OfflineAlarm | None] = []
    with (
        psycopg.connect(pair.db, autocommit=True) as first,
        psycopg.connect(pair.db, autocommit=True) as second,
    ):
        with first.transaction():  # instance A raised it and has not committed yet ...
            mine = write.raise_offline(first, dialect, gw, now=later, cutoff=later, after_s=1.0)
            assert mine is not None

            def other() -> None:  # ... when instance B's watchdog tries the same gateway
                results.append(
                    write.raise_offline(
                        second, dialect, gw, now=later + 0.5, cutoff=later, after_s=1.0
                    )
                )

            thread = threading.Thread(target=other, daemon=True)
            thread.start()
            wait_until(lambda: _waiting_on_a_lock(first, second.info.backend_pid), timeout=10)
        thread.join(10)
        assert results == [None]
        rows = first.execute(
            "SELECT COUNT(*) FROM alarms WHERE rule = 'gateway_offline' AND gateway = %s", (gw,)
        ).fetchone()
    assert rows == (1,)


def _waiting_on_a_lock(conn: psycopg.Connection[tuple[object, ...]], pid: int) -> bool:
    row = conn.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"
