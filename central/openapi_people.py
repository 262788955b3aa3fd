"""OpenAPI paths of sessions, users, tokens, the audit trail and sensor analytics.

Kept apart from central/openapi.py (ingest and queries) so each stays small; merged there.
"""

from __future__ import annotations

from typing import Any

from central import passwords

_STR = {"type": "string"}
_ROLE = {"enum": ["viewer", "operator", "admin"]}
_NAME = {"type": "string", "pattern": passwords.NAME.pattern}
_PASSWORD = {
    "type": "string",
    "minLength": passwords.MIN_LENGTH,
    "maxLength": passwords.MAX_LENGTH,
}
# The same rule as central/admin.py's gateway names.
_GATEWAY = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


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
    # csrf_token: null when the caller is an API key (no session, no CSRF token).
    csrf = {"type": ["string", "null"]}
    session = _obj(["username", "role"], username=_STR, role=_ROLE, csrf_token=csrf)
    time = {"type": "string", "format": "date-time"}
    maybe_time = {"type": ["string", "null"], "format": "date-time"}  # null: never / not
    user = _obj(
        ["name", "role"],
        name=_STR,
        role=_ROLE,
        created=time,
        updated=maybe_time,
        disabled=maybe_time,
    )
    changed = _obj(
        ["name", "role", "disabled"], name=_STR, role=_ROLE, disabled={"type": "boolean"}
    )
    entry = _obj(
        ["id", "at", "actor", "action"],
        id={"type": "integer"},
        at={"type": "string", "format": "date-time"},
        actor=_STR,
        action=_STR,
        target={"type": ["string", "null"]},
        old_value={"type": ["string", "null"]},
        new_value={"type": ["string", "null"]},
        prev_hash=_STR,
        hash=_STR,
        problem={"type": ["string", "null"]},
    )
    trail = _resp(
        "the trail (JSON, or CSV with format=csv)",
        400,
        401,
        403,
        503,
        schema=_obj(
            ["chain", "entries"],
            chain=_obj(
                ["ok", "rows"],
                ok={"type": "boolean"},
                rows={"type": "integer"},
                head=_STR,
                problems={"type": "array"},
                checkpoint={
                    "type": ["object", "null"],
                    "description": "the newest signed checkpoint that verifies (--audit-key)",
                },
                verified_from={"type": "integer", "description": "first row recomputed"},
            ),
            entries={"type": "array", "items": entry},
        ),
    )
    trail["200"]["content"]["text/csv"] = {"schema": _STR}
    return {
        "/api/v1/session": {
            "post": {
                "summary": "Sign in: sets the HttpOnly session cookie, returns the CSRF token",
                "requestBody": _body(
                    _obj(
                        ["username", "password"],
                        username={"type": "string", "minLength": 1, "maxLength": 200},
                        password={"type": "string", "maxLength": passwords.MAX_LENGTH},
                    )
                ),
                "responses": _resp("signed in", 400, 401, 415, 429, 503, schema=session),
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
                "responses": _resp(
                    "users",
                    401,
                    403,
                    schema=_obj(["users"], users={"type": "array", "items": user}),
                ),
            },
            "post": {
                "summary": "Create a person's account (admin; audited)",
                "security": _SEC,
                "requestBody": _body(
                    _obj(["name", "role", "password"], name=_NAME, role=_ROLE, password=_PASSWORD)
                ),
                "responses": _resp("created", 201, 400, 401, 403, 409),
            },
        },
        "/api/v1/users/{name}": {
            "patch": {
                "summary": "Change role, password or disabled (admin; audited)",
                "security": _SEC,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
                "requestBody": _body(
                    {
                        **_obj([], role=_ROLE, password=_PASSWORD, disabled={"type": "boolean"}),
                        "minProperties": 1,
                    }
                ),
                "responses": _resp("changed", 400, 401, 403, 404, schema=changed),
            }
        },
        "/api/v1/tokens": {
            "post": {
                "summary": "Create a gateway token, shown once (admin; audited)",
                "security": _SEC,
                "requestBody": _body(
                    _obj(["gateway"], gateway=_GATEWAY, analytics={"type": "boolean"})
                ),
                "responses": _resp("created", 201, 400, 401, 403),
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
