"""The OpenAPI 3.1 description of the central API (served at /openapi.json, committed)."""

from __future__ import annotations

from typing import Any


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "TracSeq Edge central", "version": "1"},
        "paths": {},
    }
