"""OpenAPI paths of the notifications API (merged into central/openapi.py)."""

from __future__ import annotations

from typing import Any

_SEC: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def paths() -> dict[str, Any]:
    notification = _obj(
        ["id", "alarm_ids", "policy", "level", "channel", "to", "state", "attempts"],
        id={"type": "integer"},
        alarm_ids={"type": "array", "items": {"type": "string"}},
        policy={"type": "string"},
        level={"type": "integer"},
        event={"enum": ["raised", "repeat", "acknowledged", "cleared", "prediction", "test"]},
        channel={"type": "string"},
        to={"type": "array", "items": {"type": "string"}},
        state={"enum": ["pending", "sent", "failed", "cancelled"]},
        attempts={"type": "integer"},
        created_at=_TIME,
        due_at=_TIME,
        sent_at=_TIME,
        error={"type": ["string", "null"]},
    )
    errors = {
        "400": {"description": "invalid request (the message names the field)"},
        "401": {"description": "not signed in / unknown secret"},
        "403": {"description": "role too low, or X-CSRF-Token missing or wrong"},
        "503": {"description": "database unavailable; see Retry-After"},
    }
    outcome = _obj(
        ["id", "state"],
        id={"type": "integer"},
        state={"enum": ["sent", "failed"]},
        error={"type": ["string", "null"]},
    )
    return {
        "/api/v1/notifications": {
            "get": {
                "summary": "The notification delivery log, newest first (viewer)",
                "security": _SEC,
                "parameters": [
                    {"name": "alarm_id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "notifications",
                        "content": {
                            "application/json": {
                                "schema": _obj(
                                    ["notifications"],
                                    notifications={"type": "array", "items": notification},
                                    pending={"type": "integer"},
                                )
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/api/v1/notifications/test": {
            "post": {
                "summary": "Send a test message through a channel (admin; audited)",
                "security": _SEC,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                ["channel"],
                                channel={"type": "string"},
                                to={"type": "array", "items": {"type": "string"}},
                            )
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "sent",
                        "content": {"application/json": {"schema": outcome}},
                    },
                    "404": {"description": "no such channel in the notifications file"},
                    "502": {
                        "description": "the channel refused it (the error says why)",
                        "content": {"application/json": {"schema": outcome}},
                    },
                    **errors,
                },
            }
        },
    }
