"""OpenAPI paths of the QA features: signatures, excursion reports and calibration records.

Kept apart from central/openapi.py so each stays small; merged there (after the query API,
so the sensor report's fuller description replaces the plain one).
"""

from __future__ import annotations

from typing import Any

from central.calibration import MAX_PDF_BYTES
from central.passwords import MAX_LENGTH
from central.queries import BLANK
from central.signatures import MEANINGS, RECORD_TYPES

_STR = {"type": "string"}
_NUM = {"type": ["number", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_WINDOW = [
    {"name": "from", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
    {"name": "to", "in": "query", "schema": _STR, "description": "RFC 3339 or epoch seconds"},
]
SIGNATURE = {
    "type": "object",
    "required": ["password", "meaning", "reason"],
    "additionalProperties": False,
    "properties": {
        "username": {
            **_STR,
            "maxLength": 200,
            "description": "needed on the first signing of a session",
        },
        "password": {**_STR, "maxLength": MAX_LENGTH},
        "meaning": {"enum": list(MEANINGS)},
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "pattern": "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK) + "]",
        },
    },
}
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


def _body(**props: Any) -> dict[str, Any]:
    """A signed request's body: `props` (`_required`: their required names; `_closed`: no
    other properties) and the `signature`."""
    required = props.pop("_required", [])
    closed = props.pop("_closed", False)
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["signature", *required],
        "properties": {**props, "signature": SIGNATURE},
    }
    if closed:
        schema["additionalProperties"] = False
    return {"required": True, "content": {"application/json": {"schema": schema}}}


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
_CALIBRATION = {
    "_required": ["certificate", "reference", "performed_at", "due_at", "performed_by", "points"],
    "_closed": True,
    "certificate": {**_STR, "minLength": 1, "maxLength": 200},
    "reference": {**_STR, "minLength": 1, "maxLength": 500},
    "performed_at": {**_STR, "description": "RFC 3339"},
    "due_at": {**_STR, "description": "RFC 3339, after performed_at"},
    "performed_by": {**_STR, "minLength": 1, "maxLength": 200},
    "points": {
        "type": "array",
        "minItems": 1,
        "maxItems": 100,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["nominal", "as_found", "as_left"],
            "properties": {
                "nominal": {"type": "number"},
                "as_found": {"type": "number"},
                "as_left": {"type": "number"},
            },
        },
    },
    "notes": {"type": ["string", "null"], "maxLength": 4000},
    "certificate_pdf": {
        "type": ["string", "null"],
        "contentEncoding": "base64",
        "description": f"a PDF of at most {MAX_PDF_BYTES} bytes",
    },
    "certificate_name": {"type": ["string", "null"], "maxLength": 200},
}


def paths() -> dict[str, Any]:
    cal = _post("Record a calibration (signed)", _body(**dict(_CALIBRATION)), "201", "429")
    put = _post("Replace a calibration record (signed)", _body(**dict(_CALIBRATION)), "404")
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
                _body(
                    _required=["kind", "subject", "from", "to", "content_sha256"],
                    kind={"enum": ["sensor", "site"]},
                    subject={**_STR, "minLength": 1},
                    **{"from": _TIME},
                    to=_TIME,
                    content_sha256=_STR,
                ),
                "404",
                "409",
                "429",
            )
        },
        "/api/v1/alarms/{alarm_id}/signed-ack": {
            "post": {
                **_post(
                    "Acknowledge an alarm with an electronic signature",
                    _body(comment={**_STR, "maxLength": 4000}),
                    "404",
                    "429",
                ),
                "parameters": [_path("alarm_id")],
            }
        },
        "/api/v1/users/{name}/role": {
            "post": {
                **_post(
                    "Change a user's role with an electronic signature (admin)",
                    _body(_required=["role"], role={"enum": ["viewer", "operator", "admin"]}),
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
