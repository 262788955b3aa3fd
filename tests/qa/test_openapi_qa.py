"""What the QA routes answer is what their OpenAPI schemas (central/schemas_qa.py) say:
every answer validates against its model, and holds no field the model does not declare."""

from __future__ import annotations

import secrets
import time
from typing import Any

from central import schemas_qa as qa
from central.openapi import spec
from tests.dashboard.conftest import GATEWAY, PASSWORD, Site
from tests.qa import recording as rec
from tests.qa.test_calibration import new_sensor, record, save
from tests.qa.test_signatures import SIGN, person, session


def _matches(model: type[qa.Response], body: Any) -> None:
    model.model_validate(body, by_alias=True)  # type: ignore[call-arg]
    assert qa.undeclared(model, body) == [], model.__name__


def test_every_qa_answer_is_described_by_its_response_model(site: Site) -> None:
    sensor = f"qa-{secrets.token_hex(3)}.temp"
    batch, high_id, low_id = rec.events(GATEWAY, sensor, site="lab-openapi")
    for e in batch:  # the seeded gateway's sequence continues
        seq = site.next_seq()
        e["id"], e["data"]["seq"] = f"{GATEWAY}:{seq}", seq
    site.send(batch)
    name = person(site)
    period = {"from": rec.T0, "to": rec.END}
    signature = {"username": name, "password": PASSWORD, **SIGN}
    with session(site, name) as (client, headers):
        r = client.post(f"/api/v1/alarms/{high_id}/signed-ack", json={"signature": signature},
                        headers=headers)  # fmt: skip
        _matches(qa.AckSigned, r.json())
        group = {"signature": signature, "alarm_ids": [low_id]}
        r = client.post(f"/api/v1/sensors/{sensor}/signed-ack", json=group, headers=headers)
        _matches(qa.SensorAcksSigned, r.json())
        report = site.central.get(f"/api/v1/reports/sensors/{sensor}", **period).json()
        _matches(qa.SensorReport, report)
        assert report["excursions"][1]["acks"][0]["signatures"]  # nested models are checked
        approval = {"kind": "sensor", "subject": sensor, "from": report["from"],
                    "to": report["to"], "content_sha256": report["content_sha256"],
                    "signature": {"password": PASSWORD, **SIGN}}  # fmt: skip
        r = client.post("/api/v1/reports/approvals", json=approval, headers=headers)
        _matches(qa.ApprovalSigned, r.json())
        site_report = site.central.get("/api/v1/reports/sites/lab-openapi", **period).json()
        _matches(qa.SiteReport, site_report)
        assert site_report["sensors"][0]["excursions"]
        cal_sensor = new_sensor(site)
        now = time.time()
        r = save(client, headers, cal_sensor, record(now + 86400, now - 86400), name)
        _matches(qa.CalibrationSigned, r.json())
    calibrations = site.central.get(f"/api/v1/sensors/{cal_sensor}/calibrations").json()
    _matches(qa.Calibrations, calibrations)
    assert calibrations["calibrations"][0]["signatures"]
    ack_id = str(report["excursions"][1]["acks"][0]["id"])
    listed = site.central.get("/api/v1/signatures", record_type="alarm_ack", record_id=ack_id)
    _matches(qa.Signatures, listed.json())
    _matches(qa.SignatureVerdict, site.central.get("/api/v1/signatures/verify").json())


def test_qa_routes_refer_to_the_generated_schemas() -> None:
    document = spec()
    names = set(document["components"]["schemas"])
    assert {m.__name__ for m in qa.RESPONSES} <= names
    report = document["paths"]["/api/v1/reports/sensors/{sensor}"]["get"]["responses"]["200"]
    assert report["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SensorReport"
    }
