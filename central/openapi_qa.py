"""OpenAPI paths of the QA features: signatures, excursion reports and calibration records.

Kept apart from central/openapi.py so each stays small; merged there (after the query API,
so the sensor report's fuller description replaces the plain one). Every response body is
a `$ref` to a model of central/schemas_qa.py (generated into `#/components/schemas`).
"""

from __future__ import annotations

from typing import Any

from central import schemas
from central import schemas_qa as qa
from central.schemas import Response
from central.signatures import RECORD_TYPES

_STR = {"type": "string"}
_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_WINDOW = [
    {"name": "from", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
    {"name": "to", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
]
_ERRORS = {
    "400": {"description": "invalid request (the message names the field)"},
    "401": {"description": "not signed in / unknown secret"},
    "403": {"description": "role too low, API key (cannot sign), wrong password, no CSRF token"},
    "503": {"description": "database unavailable; see Retry-After"},
}


def _ref(model: type[Response]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[Response], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _post(
    summary: str, body: dict[str, Any], answer: type[Response], *extra: str, ok: str = "200"
) -> dict[str, Any]:
    responses: dict[str, Any] = {ok: _json(answer), **_ERRORS}
    for code in extra:
        responses[code] = {
            "description": {
                "201": "created",
                "404": "not found",
                "409": "nothing to do in the current state (the message says why: a report changed "
                "since it was read, no alarm waits for an acknowledgement)",
                "429": "too many failed attempts; see Retry-After",
            }[code]
        }
    return {"summary": summary, "security": _SESSION, "requestBody": body, "responses": responses}


def _get(summary: str, params: list[Any], content: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": _SEC,
            "parameters": params,
            "responses": {"200": content, "404": {"description": "not found"}, **_ERRORS},
        }
    }


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or _STR}


_FORMAT = {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "pdf"]}}


def _report(model: type[Response], *formats: str) -> dict[str, Any]:
    return {
        "description": f"the report (JSON), or {'/'.join(formats)} with `format`",
        "content": {
            "application/json": {"schema": _ref(model)},
            **{f"{'text' if f == 'CSV' else 'application'}/{f.lower()}": {} for f in formats},
        },
    }


def paths() -> dict[str, Any]:
    record = schemas.request_body(schemas.CalibrationRecord)
    cal = _post("Record a calibration (signed)", record, qa.CalibrationSigned, "429", ok="201")
    put = _post("Replace a calibration record (signed)", record, qa.CalibrationSigned, "404")
    return {
        "/api/v1/reports/sensors/{sensor}": _get(
            "Excursion report of a sensor: figures, excursions, gaps, calibration, approvals",
            [_path("sensor"), *_WINDOW, _FORMAT],
            _report(qa.SensorReport, "CSV", "PDF"),
        ),
        "/api/v1/reports/sites/{site}": _get(
            "Excursion report of every sensor of a site",
            [
                _path("site"),
                *_WINDOW,
                {"name": "format", "in": "query", "schema": {"enum": ["json", "pdf"]}},
            ],
            _report(qa.SiteReport, "PDF"),
        ),
        "/api/v1/reports/approvals": {
            "post": _post(
                "Approve a report (signed): signs the content SHA-256 the signer saw",
                schemas.request_body(schemas.ReportApproval),
                qa.ApprovalSigned,
                "404",
                "409",
                "429",
            )
        },
        "/api/v1/alarms/{alarm_id}/signed-ack": {
            "post": {
                **_post(
                    "Acknowledge an alarm with an electronic signature",
                    schemas.request_body(schemas.SignedAck),
                    qa.AckSigned,
                    "404",
                    "429",
                ),
                "parameters": [_path("alarm_id")],
            }
        },
        "/api/v1/sensors/{sensor}/signed-ack": {
            "post": {
                **_post(
                    "Acknowledge a sensor's alarms with an electronic signature each: all in "
                    "one transaction, or none (404 names the alarm that cannot be signed; 409: "
                    "no active alarm waits for an acknowledgement)",
                    schemas.request_body(schemas.SignedSensorAck),
                    qa.SensorAcksSigned,
                    "404",
                    "409",
                    "429",
                ),
                "parameters": [_path("sensor")],
            }
        },
        "/api/v1/users/{name}/role": {
            "post": {
                **_post(
                    "Change a user's role with an electronic signature (admin)",
                    schemas.request_body(schemas.SignedRoleChange),
                    qa.RoleSigned,
                    "404",
                    "429",
                ),
                "parameters": [_path("name")],
            }
        },
        "/api/v1/signatures": _get(
            "Signatures of one record",
            [
                {
                    "name": "record_type",
                    "in": "query",
                    "required": True,
                    "schema": {"enum": list(RECORD_TYPES)},
                },
                {
                    "name": "record_id",
                    "in": "query",
                    "required": True,
                    "schema": {**_STR, "minLength": 1},
                },
            ],
            _json(qa.Signatures),
        ),
        "/api/v1/signatures/verify": _get(
            "Every signature checked against its audit row and its record",
            [],
            _json(qa.SignatureVerdict),
        ),
        "/api/v1/sensors/{sensor}/calibrations": {
            **_get(
                "Calibration records of a sensor, with their signatures",
                [_path("sensor")],
                _json(qa.Calibrations),
            ),
            "post": {**cal, "parameters": [_path("sensor")]},
        },
        "/api/v1/sensors/{sensor}/calibrations/{cal_id}": {
            "put": {**put, "parameters": [_path("sensor"), _path("cal_id", {"type": "integer"})]},
        },
        "/api/v1/calibrations/{cal_id}/certificate": _get(
            "The calibration certificate (PDF)",
            [_path("cal_id", {"type": "integer"})],
            {"description": "the PDF", "content": {"application/pdf": {}}},
        ),
    }
