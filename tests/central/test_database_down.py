"""A database that is down is retried, shown in /readyz, and answered 503 to gateways."""

from __future__ import annotations

from pathlib import Path

from tests.central.conftest import reading, start_central
from tests.servers import free_port


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
