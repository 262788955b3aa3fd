"""docs/openapi.json is the committed copy of the served schema; this test keeps it honest.

Regenerate after changing the API:
    TRACSEQ_UPDATE_OPENAPI=1 .venv/bin/pytest tests/central/test_openapi.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from starlette.routing import Route

from central.app import create_app
from central.openapi import spec
from central.settings import Settings
from central.storage import open_storage

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_served_one() -> None:
    text = json.dumps(spec(), indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("TRACSEQ_UPDATE_OPENAPI") == "1":
        COMMITTED.write_text(text)
    assert COMMITTED.exists(), "docs/openapi.json missing: run with TRACSEQ_UPDATE_OPENAPI=1"
    assert COMMITTED.read_text() == text, (
        "docs/openapi.json drifted from central/openapi.py: "
        "run TRACSEQ_UPDATE_OPENAPI=1 .venv/bin/pytest tests/central/test_openapi.py"
    )


async def test_every_route_is_described(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'c.db'}", time.time)
    app = create_app(Settings(), storage=storage)
    await storage.close()
    routes = {r.path for r in app.routes if isinstance(r, Route)}
    assert routes == set(spec()["paths"])
