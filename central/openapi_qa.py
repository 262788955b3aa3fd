"""OpenAPI paths of the QA features: signatures, excursion reports and calibration records.

Kept apart from central/openapi.py so each stays small; merged there (after the query API,
so the sensor report's fuller description replaces the plain one).
"""

from __future__ import annotations

from typing import Any

from central import schemas
from central.signatures import RECORD_TYPES

_STR = {"type": "string"}
_NUM = {"type": ["number", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_WINDOW = [
    {"name": "from", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
    {"name": "to", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
]
_SIGNED = {
    "type": "object",
    "properties": {
        "signer": _STR,
        "meaning": _STR,
        "reason": _STR,
        "signed_at": _TIME,
        "zone": _STR,
        "local_time": _STR,
        "content_sha256": _STR,
    },
}
_EXCURSION = {
    "type": "object",
    "required": ["start", "end", "duration_s", "peak", "rule", "alarm_id", "acks"],
    "properties": {
        "start": _TIME,
        "end": _TIME,
        "duration_s": {"type": "number"},
        "peak": {"type": "number"},
        "rule": {"enum": ["high", "low"]},
        "alarm_id": {"type": ["string", "null"]},
        "acks": {"type": "array"},
        "mkt": _NUM,
        "ongoing": {"type": "boolean"},
        "alarm": {"type": "object", "description": "state and why (raised, within delay, ...)"},
        "gaps": {"type": "array"},
        "notifications": {"type": ["array", "null"]},
    },
}
_ERRORS = {
    "400": {"description": "invalid request (the message names the field)"},
    "401": {"description": "not signed in / unknown secret"},
    "403": {"description": "role too low, API key (cannot sign), wrong password, no CSRF token"},
    "503": {"description": "database unavailable; see Retry-After"},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _post(summary: str, body: dict[str, Any], *extra: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK"}, **_ERRORS}
    for code in extra:
        responses[code] = {
            "description": {
                "201": "created",
                "404": "not found",
                "409": "the report changed since it was read",
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
_REPORT = {
    "description": "the report (JSON), or CSV/PDF with `format`",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "excursions": {"type": "array", "items": _EXCURSION},
                    "gaps": {"type": "array"},
                    "coverage": _NUM,
                    "time_out_of_range_s": {"type": "number"},
                    "calibration": {"type": "object"},
                    "approvals": {"type": "array", "items": _SIGNED},
                    "content_sha256": _STR,
                },
            }
        },
        "text/csv": {},
        "application/pdf": {},
    },
}


def paths() -> dict[str, Any]:
    record = schemas.request_body(schemas.CalibrationRecord)
    cal = _post("Record a calibration (signed)", record, "201", "429")
    put = _post("Replace a calibration record (signed)", record, "404")
    return {
        "/api/v1/reports/sensors/{sensor}": _get(
            "Excursion report of a sensor: figures, excursions, gaps, calibration, approvals",
            [_path("sensor"), *_WINDOW, _FORMAT],
            _REPORT,
        ),
        "/api/v1/reports/sites/{site}": _get(
            "Excursion report of every sensor of a site",
            [
                _path("site"),
                *_WINDOW,
                {"name": "format", "in": "query", "schema": {"enum": ["json", "pdf"]}},
            ],
            _REPORT,
        ),
        "/api/v1/reports/approvals": {
            "post": _post(
                "Approve a report (signed): signs the content SHA-256 the signer saw",
                schemas.request_body(schemas.ReportApproval),
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
                    "one transaction, or none (404 names the alarm that cannot be signed)",
                    schemas.request_body(schemas.SignedSensorAck),
                    "404",
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
            _json(
                {
                    "type": "object",
                    "properties": {"signatures": {"type": "array", "items": _SIGNED}},
                }
            ),
        ),
        "/api/v1/signatures/verify": _get(
            "Every signature checked against its audit row and its record",
            [],
            _json(
                {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "checked": {"type": "integer"},
                        "problems": {"type": "array"},
                    },
                }
            ),
        ),
        "/api/v1/sensors/{sensor}/calibrations": {
            **_get(
                "Calibration records of a sensor, with their signatures",
                [_path("sensor")],
                _json({"type": "object"}),
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
