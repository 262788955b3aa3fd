"""OpenAPI paths of sessions, users, tokens, the audit trail and sensor analytics.

Kept apart from central/openapi.py (ingest and queries) so each stays small; merged there.
"""

from __future__ import annotations

from typing import Any

from central import schemas
from central.schemas import request_body as _body

_STR = {"type": "string"}
_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(description: str, *codes: int, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": description}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    out: dict[str, Any] = {"200": ok}
    text = {
        201: "created",
        400: "invalid request (the message names the field)",
        401: "not signed in / unknown secret",
        403: "role too low, or X-CSRF-Token missing or wrong",
        404: "not found",
        409: "exists already",
        413: "body over the limit (64 KiB); not read further",
        415: "not JSON",
        429: "too many failed sign-ins; see Retry-After",
        503: "database unavailable; see Retry-After",
    }
    for code in codes:
        out[str(code)] = {"description": text[code]}
    return out


def _limit(most: int) -> dict[str, Any]:
    return {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": most},
    }


def paths() -> dict[str, Any]:
    trail = _resp(
        "the trail (JSON, CSV with format=csv)", 400, 401, 403, 503, schema=_ref("AuditTrail")
    )
    trail["200"]["content"]["text/csv"] = {"schema": _STR}
    session = _ref("Session")
    return {
        "/api/v1/session": {
            "post": {
                "summary": "Sign in: sets the HttpOnly session cookie, returns the CSRF token",
                "requestBody": _body(schemas.LoginRequest),
                "responses": _resp("signed in", 400, 401, 413, 415, 429, 503, schema=session),
            },
            "get": {
                "summary": "Who is signed in (and the session's CSRF token)",
                "security": _SEC,
                "responses": _resp("the caller", 401, schema=session),
            },
            "delete": {
                "summary": "Sign out (needs X-CSRF-Token)",
                "security": [{"session": []}],
                "responses": _resp("signed out", 400, 401, 403),
            },
        },
        "/api/v1/users": {
            "get": {
                "summary": "People and their roles (admin)",
                "security": _SEC,
                "responses": _resp("users", 401, 403, schema=_ref("Users")),
            },
            "post": {
                "summary": "Create a person's account (admin; audited)",
                "security": _SEC,
                "requestBody": _body(schemas.UserCreate),
                "responses": _resp("created", 201, 400, 401, 403, 409, 413),
            },
        },
        "/api/v1/users/{name}": {
            "patch": {
                "summary": "Change role, password or disabled (admin; audited)",
                "security": _SEC,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
                "requestBody": _body(schemas.UserUpdate),
                "responses": _resp("changed", 400, 401, 403, 404, 413, schema=_ref("UserChanged")),
            }
        },
        "/api/v1/tokens": {
            "post": {
                "summary": "Create a gateway token, shown once (admin; audited)",
                "security": _SEC,
                "requestBody": _body(schemas.TokenCreate),
                "responses": _resp("created", 201, 400, 401, 403, 413),
            }
        },
        "/api/v1/audit": {
            "get": {
                "summary": "Audit trail, newest first, with the hash-chain check (CSV: format=csv)",
                "security": _SEC,
                "parameters": [
                    _limit(100_000),
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
                ],
                "responses": trail,
            }
        },
        "/api/v1/sensors/{sensor}/analytics": {
            "get": {
                "summary": "The newest analytics events (predictions, status, faults) of a sensor",
                "security": _SEC,
                "parameters": [
                    {"name": "sensor", "in": "path", "required": True, "schema": _STR},
                    _limit(1000),
                ],
                "responses": _resp("events", 400, 401, 403, 503),
            }
        },
    }


SESSION_SCHEME = {
    "type": "apiKey",
    "in": "cookie",
    "name": "tracseq_session",
    "description": "from POST /api/v1/session; writes also need the X-CSRF-Token header",
}
