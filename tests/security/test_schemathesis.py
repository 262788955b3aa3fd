"""schemathesis against central's own OpenAPI (served at /openapi.json) on a real uvicorn:
every operation, with no secret, a gateway token and an admin API key, answers without 5xx.

Bounded here (a few examples per operation); docs/security.md records a longer run and
its command. /api/v1/stream is a never-ending SSE response, so it is checked apart: any
parameters and secrets give a status below 500 and a stream or an error, never a hang.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.central_server import RunningCentral, central

_CLI = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with central(tmp_path_factory.mktemp("schemathesis")) as server:
        yield server


@pytest.fixture(scope="module")
def secrets(live: RunningCentral) -> dict[str, str | None]:
    """No secret, a gateway token (may only ingest), an admin API key (may do anything)."""
    return {"anonymous": None, "gateway": live.token("st-gw"), "admin": live.api_key("st-admin")}


# Phases per caller: without a secret everything is 401 (the coverage phase's edge cases
# suffice); a gateway token may only ingest (fuzz bodies); an admin key reaches every query.
PHASES = {"anonymous": "coverage", "gateway": "fuzzing", "admin": "coverage,fuzzing"}


@pytest.mark.skipif(_CLI is None, reason="schemathesis is not installed (pip install .[test])")
@pytest.mark.parametrize("who", ["anonymous", "gateway", "admin"])
def test_no_operation_answers_5xx(
    live: RunningCentral, secrets: dict[str, str | None], who: str, tmp_path: Path
) -> None:
    assert _CLI is not None
    argv = [
        _CLI, "run", f"{live.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--exclude-path", "/api/v1/stream",
        "--phases", PHASES[who],
        "--max-examples", "8",
        "--workers", "1",
        "--request-timeout", "10",
        "--no-color",
    ]  # fmt: skip
    secret = secrets[who]
    if secret is not None:
        argv += ["--header", f"Authorization: Bearer {secret}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout


@pytest.mark.parametrize("who", ["anonymous", "gateway", "admin"])
@pytest.mark.parametrize(
    "params",
    [{}, {"sensor": "x" * 300}, {"gateway": "\x00"}, {"types": "nope"}, {"since": "-1"}],
)
def test_the_event_stream_never_answers_5xx(
    live: RunningCentral, secrets: dict[str, str | None], who: str, params: dict[str, str]
) -> None:
    secret = secrets[who]
    headers = {"Last-Event-ID": "not-a-number"}
    if secret is not None:
        headers["authorization"] = f"Bearer {secret}"
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", f"{live.url}/api/v1/stream", params=params, headers=headers) as r,
    ):
        assert r.status_code < 500
