"""Calibration records: signed edits, the certificate PDF, and the calibration_due alarm."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx
import pytest

from runtime import events as ev
from tests.dashboard.conftest import GATEWAY, PASSWORD, Site
from tests.qa import recording as rec
from tests.qa.test_signatures import person, session

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def record(due: float, performed: float, **extra: Any) -> dict[str, Any]:
    return {
        "certificate": f"CAL-{secrets.token_hex(2)}",
        "reference": "Fluke 1524 s/n 123 (UKAS cert R-77)",
        "performed_at": ev.format_time(performed),
        "due_at": ev.format_time(due),
        "performed_by": "Metrology Ltd, J. Smith",
        "points": [
            {"nominal": -80.0, "as_found": -79.6, "as_left": -80.0},
            {"nominal": 0.0, "as_found": 0.3, "as_left": 0.0},
        ],
        **extra,
    }


def new_sensor(site: Site) -> str:
    sensor = f"cal-{secrets.token_hex(3)}.temp"
    site.send(
        [
            ev.edge_event(
                GATEWAY,
                site.next_seq(),
                ev.SENSOR_DESCRIBED,
                time=time.time(),
                subject=sensor,
                data={
                    "kind": "freezer",
                    "quantity": "temperature",
                    "unit": "degC",
                    "site": "lab-cal",
                    "protocol": "mqtt",
                    "alarms": {"high": {"above": -70.0}},
                },
            ).to_dict()
        ]
    )
    return sensor


def save(
    client: httpx.Client, headers: dict[str, str], sensor: str, body: dict[str, Any], name: str
) -> httpx.Response:
    sig = {"username": name, "password": PASSWORD, "meaning": "verified", "reason": "certificate"}
    return client.post(
        f"/api/v1/sensors/{sensor}/calibrations", json={**body, "signature": sig}, headers=headers
    )


def active_due(site: Site, sensor: str) -> list[dict[str, Any]]:
    alarms = site.central.get("/api/v1/alarms", state="active").json()["alarms"]
    return [a for a in alarms if a["subject"] == sensor and a["rule"] == "calibration_due"]


def test_an_overdue_calibration_raises_calibration_due_until_a_new_one(site: Site) -> None:
    sensor = new_sensor(site)
    name = person(site)
    now = time.time()
    with session(site, name) as (client, headers):
        r = save(client, headers, sensor, record(now - 86400, now - 400 * 86400), name)
        assert r.status_code == 201, r.text
        (alarm,) = active_due(site, sensor)
        assert alarm["origin"] == "central"
        assert alarm["threshold"] == pytest.approx(now - 86400, abs=0.01)  # the due date
        twin = {s["id"]: s for s in site.central.get("/api/v1/sensors").json()["sensors"]}
        assert twin[sensor]["status"] == "alarm"
        listing = site.central.get(f"/api/v1/sensors/{sensor}/calibrations").json()
        assert listing["overdue"] is True
        r = save(client, headers, sensor, record(now + 300 * 86400, now - 3600), name)
        assert r.status_code == 201, r.text
    assert active_due(site, sensor) == []
    listing = site.central.get(f"/api/v1/sensors/{sensor}/calibrations").json()
    assert listing["overdue"] is False and len(listing["calibrations"]) == 2
    newest = listing["calibrations"][0]
    assert newest["signatures"][0]["signer"] == name
    assert newest["signatures"][0]["meaning"] == "verified"


def test_certificate_must_be_a_small_pdf_and_is_served_back(site: Site) -> None:
    sensor = new_sensor(site)
    name = person(site)
    now = time.time()
    with session(site, name) as (client, headers):
        bad = record(now + 86400, now, certificate_pdf=base64.b64encode(b"<html>").decode())
        r = save(client, headers, sensor, bad, name)
        assert r.status_code == 400 and "not a PDF" in r.json()["error"]
        big = PDF[:-7] + b"\0" * (5 * 1024 * 1024) + b"%%EOF\n"
        r = save(
            client,
            headers,
            sensor,
            record(now + 86400, now, certificate_pdf=base64.b64encode(big).decode()),
            name,
        )
        assert r.status_code in (400, 413)
        good = record(
            now + 86400,
            now,
            certificate_pdf=base64.b64encode(PDF).decode(),
            certificate_name="cert.pdf",
        )
        r = save(client, headers, sensor, good, name)
        assert r.status_code == 201, r.text
        cal_id = r.json()["id"]
    pdf = site.central.get(f"/api/v1/calibrations/{cal_id}/certificate")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"


def test_viewers_read_operators_edit_with_a_signature_and_versions_count(site: Site) -> None:
    sensor = new_sensor(site)
    now = time.time()
    client, csrf = site.login("victor")
    sig = {"username": "victor", "password": PASSWORD, "meaning": "verified", "reason": "x"}
    r = client.post(
        f"/api/v1/sensors/{sensor}/calibrations",
        json={**record(now + 86400, now), "signature": sig},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 403
    name = person(site)
    with session(site, name) as (c, headers):
        unsigned = c.post(
            f"/api/v1/sensors/{sensor}/calibrations", json=record(now + 86400, now), headers=headers
        )
        assert unsigned.status_code == 400 and "signature" in unsigned.json()["error"]
        cal_id = save(c, headers, sensor, record(now + 86400, now), name).json()["id"]
        edited = record(now + 2 * 86400, now, notes="due date corrected")
        sig["username"], sig["meaning"] = name, "corrective action taken"
        r = c.put(
            f"/api/v1/sensors/{sensor}/calibrations/{cal_id}",
            json={**edited, "signature": sig},
            headers=headers,
        )
        assert r.status_code == 200, r.text
    (row,) = site.central.get(f"/api/v1/sensors/{sensor}/calibrations").json()["calibrations"]
    assert row["version"] == 2 and row["notes"] == "due date corrected"
    assert [s["meaning"] for s in row["signatures"]] == ["verified", "corrective action taken"]
    audit = site.central.get("/api/v1/audit", limit=30).json()
    assert audit["signatures"]["ok"]
    assert any(e["action"] == "calibration.update" for e in audit["entries"])


def test_report_states_the_calibration_status_over_its_period(site: Site) -> None:
    sensor = new_sensor(site)
    name = person(site)
    with session(site, name) as (client, headers):
        # valid until 2 h into the period, renewed 1 h later: one hour overdue
        first = record(rec.T0 + 7200, rec.T0 - 300 * 86400)
        second = record(rec.T0 + 365 * 86400, rec.T0 + 3 * 3600)
        assert save(client, headers, sensor, first, name).status_code == 201
        assert save(client, headers, sensor, second, name).status_code == 201
    body = site.central.get(
        f"/api/v1/reports/sensors/{sensor}", **{"from": rec.T0, "to": rec.END}
    ).json()
    cal = body["calibration"]
    assert cal["status"] == "gaps"
    assert cal["uncovered"] == [
        {
            "from": ev.format_time(rec.T0 + 7200),
            "to": ev.format_time(rec.T0 + 3 * 3600),
            "why": "overdue",
        }
    ]
    assert len(cal["records"]) == 2
