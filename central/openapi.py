"""The OpenAPI 3.1 description of the central API, served at /openapi.json.

Paths, parameters and status codes are written here next to the routes (no docstring
magic); every request and response body is generated from the pydantic models the routes
validate with (central/schemas.py). `docs/openapi.json` is the committed copy and
tests/central/test_openapi.py fails when the two drift apart or a route is missing here.
"""

from __future__ import annotations

from typing import Any

from central import openapi_people, openapi_qa, schemas, schemas_qa
from central.notify import openapi as notify_openapi
from central.queries import MAX_RAW

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
        409: "nothing to do in the current state (the message says why)",
        413: "body over the limit (before or after decompression); not read further",
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


def _sensor_param() -> dict[str, Any]:
    return {"name": "sensor", "in": "path", "required": True, "schema": {"type": "string"}}


def spec() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/ingest": {
            "post": {
                "summary": "Store a batch of CloudEvents from a gateway (idempotent on event id)",
                "description": "Also one event in structured mode "
                "(application/cloudevents+json) or in binary mode (ce-* headers, the event's "
                "JSON data as the body), with the same checks.",
                "security": [{"gatewayToken": []}],
                "parameters": [
                    {"name": "Content-Encoding", "in": "header", "schema": {"enum": ["gzip"]}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/cloudevents-batch+json": {
                            "schema": {"type": "array", "items": _ref("CloudEvent")}
                        },
                        "application/cloudevents+json": {"schema": _ref("CloudEvent")},
                    },
                },
                "responses": {
                    "200": _json(_ref("IngestResult")),
                    **_errors(400, 401, 403, 413, 415, 503),
                },
            }
        },
        "/api/v1/gateways": _read(
            "Each gateway: last seen, last seq, sync lag, online", _ref("Gateways")
        ),
        "/api/v1/sensors": _read(
            "Digital twin: each sensor's latest value/time, kind, limits, status, active alarms",
            _ref("Sensors"),
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
            _ref("Alarms"),
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
                "requestBody": schemas.request_body(schemas.AckRequest),
                "responses": {"200": _json(_ref("Ack")), **_errors(400, 401, 403, 404, 413, 503)},
            }
        },
        "/api/v1/sensors/{sensor}/ack": {
            "post": {
                "summary": "Acknowledge a sensor's alarms with one comment (operator or admin)",
                "description": "All or none, each audited and announced on the live stream. "
                "Without `alarm_ids`: the sensor's active alarms not yet acknowledged (409 "
                "when there is none).",
                "security": [{"apiKey": []}],
                "parameters": [_sensor_param()],
                "requestBody": schemas.request_body(schemas.SensorAckRequest),
                "responses": {
                    "200": _json(_ref("SensorAcks")),
                    **_errors(400, 401, 403, 404, 409, 413, 503),
                },
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
    paths.update(notify_openapi.paths())
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
            "schemas": schemas.components(schemas_qa.RESPONSES),
        },
    }
