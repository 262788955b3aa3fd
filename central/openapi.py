"""The OpenAPI 3.1 description of the central API, served at /openapi.json.

Written by hand next to the routes (one place, no docstring magic); `docs/openapi.json` is
the committed copy and tests/central/test_openapi.py fails when the two drift apart or a
route is missing here.
"""

from __future__ import annotations

from typing import Any

from central import openapi_people, openapi_qa
from central.queries import BLANK, MAX_RAW

_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}  # null: not (yet) known
_NUM = {"type": ["number", "null"]}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_WINDOW = [
    {
        "name": "from",
        "in": "query",
        "schema": {"type": "string"},
        "description": "RFC 3339 time or epoch seconds (default: `to` minus 24 h)",
    },
    {
        "name": "to",
        "in": "query",
        "schema": {"type": "string"},
        "description": "RFC 3339 time or epoch seconds (default: now)",
    },
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "invalid request (the message names the parameter or field)",
        401: "missing or unknown bearer secret",
        403: "the secret may not do this",
        404: "not found (the message names what)",
        413: "body over the limit (before or after decompression)",
        415: "unsupported Content-Type or Content-Encoding",
        503: "shedding load or database unavailable; see Retry-After",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _read(
    summary: str,
    schema: dict[str, Any],
    params: list[Any] | None = None,
    *,
    not_found: str | None = None,
) -> Any:
    responses = {"200": _json(schema), **_errors(400, 401, 403, 503)}
    if not_found is not None:
        responses["404"] = _json(_ref("Error"), not_found)
    return {
        "get": {
            "summary": summary,
            "security": [{"apiKey": []}],
            "parameters": params or [],
            "responses": responses,
        }
    }


def _limit(most: int) -> dict[str, Any]:
    """The `limit` query parameter, with the bounds the API enforces (else 400)."""
    return {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": most},
    }


def _text(most: int, description: str) -> dict[str, Any]:
    """A required free text: at least one character that is not white space (`BLANK`)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": most,
        # \uXXXX escapes: readable, and the same in ECMA-262, Python and Rust regexes
        "pattern": "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK) + "]",
        "description": description,
    }


def _sensor_param() -> dict[str, Any]:
    return {"name": "sensor", "in": "path", "required": True, "schema": {"type": "string"}}


def spec() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/ingest": {
            "post": {
                "summary": "Store a batch of CloudEvents from a gateway (idempotent on event id)",
                "security": [{"gatewayToken": []}],
                "parameters": [
                    {"name": "Content-Encoding", "in": "header", "schema": {"enum": ["gzip"]}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/cloudevents-batch+json": {
                            "schema": {"type": "array", "items": _ref("CloudEvent")}
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("IngestResult")),
                    **_errors(400, 401, 403, 413, 415, 503),
                },
            }
        },
        "/api/v1/gateways": _read(
            "Each gateway: last seen, last seq, sync lag, online",
            {
                "type": "object",
                "properties": {"gateways": {"type": "array", "items": _ref("Gateway")}},
            },
        ),
        "/api/v1/sensors": _read(
            "Digital twin: each sensor's latest value/time, kind, limits, status, active alarms",
            {
                "type": "object",
                "properties": {"sensors": {"type": "array", "items": _ref("Sensor")}},
            },
        ),
        "/api/v1/sensors/{sensor}/readings": _read(
            "Raw readings, or min/avg/max/count per `step` (computed by the database)",
            _ref("Readings"),
            [
                _sensor_param(),
                *_WINDOW,
                {
                    "name": "step",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "bucket size: a duration (5m, 1h) or seconds",
                },
                _limit(MAX_RAW),
            ],
        ),
        "/api/v1/alarms": _read(
            "Alarm log with durations and acknowledgements, newest first",
            {"type": "object", "properties": {"alarms": {"type": "array", "items": _ref("Alarm")}}},
            [
                {"name": "state", "in": "query", "schema": {"enum": ["active", "all"]}},
                _limit(10_000),
            ],
        ),
        "/api/v1/alarms/{alarm_id}/ack": {
            "post": {
                "summary": "Acknowledge an alarm (operator or admin; comment required)",
                "security": [{"apiKey": []}],
                "parameters": [
                    {
                        "name": "alarm_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["by", "comment"],
                                "properties": {
                                    "by": _text(200, "who acknowledges (a session's own name)"),
                                    "comment": _text(4000, "why; what was done"),
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("Ack")), **_errors(400, 401, 403, 404)},
            }
        },
        "/api/v1/reports/sensors/{sensor}": _read(
            "min/max/mean, time above/below the sensor's limits, mean kinetic temperature",
            _ref("Report"),
            [_sensor_param(), *_WINDOW],
            not_found="no such sensor (never described nor read)",
        ),
        "/api/v1/stream": {
            "get": {
                "summary": "Live events (Server-Sent Events); resume with Last-Event-ID",
                "security": [{"apiKey": []}],
                "parameters": [
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "event stream", "content": {"text/event-stream": {}}},
                    **_errors(401, 403),
                },
            }
        },
    }
    paths.update(openapi_people.paths())
    paths.update(openapi_qa.paths())
    for path, summary in (
        ("/healthz", "Liveness"),
        ("/health", "Liveness (the TracSeq platform's probe path)"),
        ("/readyz", "Readiness: the database answers"),
        ("/metrics", "Prometheus metrics"),
        ("/openapi.json", "This document"),
    ):
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TracSeq Edge central storage service",
            "version": "1",
            "description": "Ingest of CloudEvents batches from gateways and the query API. "
            "Times are RFC 3339 UTC; values in the sensor's unit.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "gatewayToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`tracseq-edge central token create GATEWAY`",
                },
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`tracseq-edge central apikey create NAME --role R`",
                },
                "session": openapi_people.SESSION_SCHEME,
            },
            "schemas": _schemas(),
        },
    }


def _schemas() -> dict[str, Any]:
    alarm = {
        "type": "object",
        "properties": {
            "alarm_id": {"type": "string"},
            "origin": {"enum": ["edge", "central"]},
            "gateway": {"type": ["string", "null"]},
            "subject": {"type": ["string", "null"]},
            "rule": {"type": "string"},
            "threshold": _NUM,
            "value": _NUM,
            "raised_at": _MAYBE_TIME,
            "cleared_at": _MAYBE_TIME,
            "clear_value": _NUM,
            "duration_s": _NUM,
            "state": {"enum": ["active", "cleared"]},
            "acks": {"type": "array", "items": _ref("Ack")},
        },
    }
    return {
        "Error": _ERROR,
        "CloudEvent": {
            "type": "object",
            "required": ["specversion", "id", "source", "type"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string", "description": "<gateway>:<seq>, the de-dup key"},
                "source": {"type": "string", "description": "tracseq-edge/<gateway>"},
                "type": {"type": "string"},
                "subject": {"type": "string"},
                "time": _TIME,
                "datacontenttype": {"const": "application/json"},
                "data": {"type": "object"},
            },
        },
        "IngestResult": {
            "type": "object",
            "required": ["accepted", "duplicates"],
            "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
        },
        "Gateway": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "first_seen": _TIME,
                "last_seen": _TIME,
                "last_seq": {"type": ["integer", "null"]},
                "last_received": _MAYBE_TIME,
                "lag_s": _NUM,
                "pending": {"type": ["integer", "null"]},
                "version": {"type": ["string", "null"]},
                "config_hash": {"type": ["string", "null"]},
                "started_at": _MAYBE_TIME,
                "stopped_at": _MAYBE_TIME,
                "online": {"type": "boolean"},
            },
        },
        "Sensor": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "gateway": {"type": ["string", "null"]},
                "kind": {"type": ["string", "null"]},
                "quantity": {"type": ["string", "null"]},
                "unit": {"type": ["string", "null"]},
                "site": {"type": ["string", "null"]},
                "protocol": {"type": ["string", "null"]},
                "alarms": {"type": "object"},
                "described_at": _MAYBE_TIME,
                "last_value": _NUM,
                "last_time": _MAYBE_TIME,
                "last_seq": {"type": ["integer", "null"]},
                "analytics_status": {"type": ["string", "null"]},
                "status": {
                    "enum": [
                        "normal",
                        "alarm",
                        "offline",
                        "warning",
                        "critical",
                        "stale",
                        "unknown",
                    ]
                },
                "active_alarms": {"type": "array", "items": _ref("Alarm")},
            },
        },
        "Readings": {
            "type": "object",
            "properties": {
                "sensor": {"type": "string"},
                "from": _TIME,
                "to": _TIME,
                "step": _NUM,
                "truncated": {"type": "boolean", "description": "raw: `limit` rows returned"},
                "readings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"time": _TIME, "value": {"type": "number"}},
                    },
                },
                "buckets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "time": _TIME,
                            "min": {"type": "number"},
                            "avg": {"type": "number"},
                            "max": {"type": "number"},
                            "count": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "Alarm": alarm,
        "Ack": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "alarm_id": {"type": "string"},
                "by": {"type": "string"},
                "comment": {"type": "string"},
                "at": _TIME,
                "actor": {"type": "string"},
            },
        },
        "Report": {
            "type": "object",
            "properties": {
                "sensor": {"type": "string"},
                "from": _TIME,
                "to": _TIME,
                "unit": {"type": ["string", "null"]},
                "thresholds": {"type": "object"},
                "delta_h_kj_per_mol": {"type": "number"},
                "count": {"type": "integer"},
                "min": _NUM,
                "max": _NUM,
                "mean": _NUM,
                "time_weighted_mean": _NUM,
                "covered_s": {"type": "number"},
                "time_above_s": _NUM,
                "time_below_s": _NUM,
                "mkt": {**_NUM, "description": "mean kinetic temperature, ΔH = 83.144 kJ/mol"},
            },
        },
    }
