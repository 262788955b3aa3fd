"""The signed paths on PostgreSQL: a signed ack, a calibration (bytea certificate, RETURNING,
the partial unique index of calibration_due) and an approval, all verified afterwards."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest

from runtime import events as ev
from tests.dashboard.conftest import PASSWORD, Site, seeded_site
from tests.qa.test_calibration import PDF, active_due, record, save
from tests.qa.test_signatures import SIGN, person, session, signed_ack


@pytest.fixture(scope="module")
def pg_site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("qa-postgres")
    with seeded_site(workdir, "postgres", postgres_url, "--offline-after", "1h") as s:
        yield s


def test_signing_and_calibration_on_postgresql(pg_site: Site) -> None:
    site = pg_site
    name = person(site)
    alarm_id = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    now = time.time()
    with session(site, name) as (client, headers):
        r = signed_ack(client, headers, alarm_id, username=name, password=PASSWORD, **SIGN)
        assert r.status_code == 200, r.text
        body = record(now - 60, now - 365 * 86400, certificate_pdf=base64.b64encode(PDF).decode())
        r = save(client, headers, "fridge-2.temp", body, name)
        assert r.status_code == 201, r.text
        cal_id = r.json()["id"]
        assert len(active_due(site, "fridge-2.temp")) == 1
        r = save(client, headers, "fridge-2.temp", record(now + 86400, now), name)
        assert r.status_code == 201, r.text
        assert active_due(site, "fridge-2.temp") == []
        period = {"from": ev.format_time(now - 3600), "to": ev.format_time(now)}
        report = site.central.get("/api/v1/reports/sensors/fridge-2.temp", **period).json()
        r = client.post(
            "/api/v1/reports/approvals",
            headers=headers,
            json={
                "kind": "sensor",
                "subject": "fridge-2.temp",
                **period,
                "content_sha256": report["content_sha256"],
                "signature": {"password": PASSWORD, "meaning": "reviewed", "reason": "ok"},
            },
        )
        assert r.status_code == 200, r.text
    assert site.central.get(f"/api/v1/calibrations/{cal_id}/certificate").content == PDF
    verdict = site.central.get("/api/v1/signatures/verify").json()
    assert verdict["ok"] and verdict["checked"] == 4
