"""POST /api/v1/events through a real uvicorn server: 202 after commit, 400/401/404/413/415."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from edge.intake import intake_routes
from edge.log import DurableLog
from edgeconfig import Config
from runtime import events
from runtime.http_server import HttpServer
from tests.edge.events_support import GATEWAY, eventually
from tests.servers import free_port

TOKEN = "s3cret-intake-token"
SINGLE = {"Content-Type": events.SINGLE_MEDIA_TYPE, "Authorization": f"Bearer {TOKEN}"}
BATCH = {"Content-Type": events.BATCH_MEDIA_TYPE, "Authorization": f"Bearer {TOKEN}"}


def lims_event(n: int, **changes: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": f"lims-{n}",
        "source": "lims/hooks",
        "type": "org.tracseq.sample.moved",
        "subject": f"sample-{n}",
        "time": "2026-11-24T10:00:00.123Z",
        "datacontenttype": "application/json",
        "data": {"from": "ult-F12", "to": "ult-F13", "n": n},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def config_with(tmp_path: Path, token_file: Path | None) -> Config:
    gateway: dict[str, Any] = {"id": GATEWAY, "data_dir": tmp_path}
    if token_file is not None:
        gateway["intake_token_file"] = token_file
    return Config.model_validate({"gateway": gateway})


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "intake.token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[DurableLog]:
    the_log = DurableLog.open(tmp_path / "log.db", cursors=("redis",))
    try:
        yield the_log
    finally:
        await the_log.close()


class Serving:
    def __init__(self, config: Config, log: DurableLog, max_body: int = 1024 * 1024) -> None:
        self.port = free_port()
        app = Starlette(routes=intake_routes(config, log, max_body=max_body))
        self.server = HttpServer("http", app, "127.0.0.1", self.port)
        self.url = f"http://127.0.0.1:{self.port}/api/v1/events"


@pytest.fixture
async def serve(log: DurableLog) -> AsyncIterator[Any]:
    tasks: list[asyncio.Task[None]] = []

    async def start(config: Config, max_body: int = 1024 * 1024) -> Serving:
        serving = Serving(config, log, max_body)
        tasks.append(asyncio.create_task(serving.server.run()))
        await eventually(lambda: _listening(serving.port))
        return serving

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_single_event_is_committed_before_202(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    response = await http.post(server.url, content=orjson.dumps(lims_event(1)), headers=SINGLE)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "ids": [f"{GATEWAY}:1"]}
    stored = await log.read(0, 10)  # on disk the moment the 202 arrived
    assert len(stored) == 1
    event = stored[0].to_event(GATEWAY).to_dict()
    assert event["type"] == "org.tracseq.sample.moved"
    assert event["subject"] == "sample-1"
    assert event["time"] == "2026-11-24T10:00:00.123Z"
    assert event["source"] == f"tracseq-edge/{GATEWAY}"
    assert event["data"] == {
        "seq": 1,
        "original_id": "lims-1",
        "original_source": "lims/hooks",
        "data": {"from": "ult-F12", "to": "ult-F13", "n": 1},
    }


async def test_batch_gets_consecutive_seqs_and_foreign_types_become_external(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    batch = [lims_event(1), lims_event(2, type="com.example.run.finished"), lims_event(3)]
    response = await http.post(server.url, content=orjson.dumps(batch), headers=BATCH)
    assert response.status_code == 202, response.text
    assert response.json()["ids"] == [f"{GATEWAY}:{n}" for n in (1, 2, 3)]
    stored = await log.read(0, 10)
    assert [s.type for s in stored] == [
        "org.tracseq.sample.moved",
        events.EXTERNAL,
        "org.tracseq.sample.moved",
    ]
    assert stored[1].data["original_type"] == "com.example.run.finished"
    assert stored[1].data["original_id"] == "lims-2"


async def test_bad_events_are_refused_whole_naming_index_and_field(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    batch = [
        lims_event(1),
        lims_event(2, id=None),
        lims_event(3, time="yesterday"),
        lims_event(4, type=events.READING),
        lims_event(5, data=[1, 2]),
    ]
    response = await http.post(server.url, content=orjson.dumps(batch), headers=BATCH)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "id"),
        (2, "time"),
        (3, "type"),
        (4, "data"),
    ]
    assert "reserved" in errors[2]["message"]
    assert await log.read(0, 10) == []  # nothing of the batch was committed
    await eventually(lambda: log.stats.rejects == 1)
    with sqlite3.connect(log.path) as conn:
        source, reason = conn.execute("SELECT source, reason FROM rejects").fetchone()
    assert source.startswith("intake:127.0.0.1:")
    assert "[1] id: required attribute missing" in reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "a single event must be a JSON object"),
    ],
)
async def test_unparseable_body_is_400(
    tmp_path: Path,
    token_file: Path,
    log: DurableLog,
    serve: Any,
    http: httpx.AsyncClient,
    body: bytes,
    message: str,
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    response = await http.post(server.url, content=body, headers=SINGLE)
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


async def test_missing_or_wrong_token_is_401(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    body = orjson.dumps(lims_event(1))
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        headers = {"Content-Type": events.SINGLE_MEDIA_TYPE, **auth}
        response = await http.post(server.url, content=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token" in response.json()["error"]
    assert await log.read(0, 10) == []


async def test_intake_is_off_without_a_token(
    tmp_path: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    unset = await serve(config_with(tmp_path, None))
    response = await http.post(unset.url, content=orjson.dumps(lims_event(1)), headers=SINGLE)
    assert response.status_code == 404
    assert "intake_token_file" in response.json()["error"]
    missing = await serve(config_with(tmp_path, tmp_path / "nope.token"))
    response = await http.post(missing.url, content=orjson.dumps(lims_event(1)), headers=SINGLE)
    assert response.status_code == 503
    assert "nope.token is missing or empty" in response.json()["error"]
    # Creating the file turns the intake on, without a restart.
    (tmp_path / "nope.token").write_text(TOKEN)
    response = await http.post(missing.url, content=orjson.dumps(lims_event(1)), headers=SINGLE)
    assert response.status_code == 202


async def test_body_over_the_limit_is_413(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file), max_body=2000)
    batch = orjson.dumps([lims_event(n) for n in range(20)])
    assert len(batch) > 2000
    response = await http.post(server.url, content=batch, headers=BATCH)
    assert response.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for start in range(0, len(batch), 500):
            yield batch[start : start + 500]

    response = await http.post(server.url, content=chunked(), headers=BATCH)
    assert response.status_code == 413
    assert "larger than 2000 bytes" in response.json()["error"]
    assert await log.read(0, 10) == []


async def test_other_content_types_are_415(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    server = await serve(config_with(tmp_path, token_file))
    headers = {**SINGLE, "Content-Type": "text/plain"}
    response = await http.post(server.url, content=orjson.dumps(lims_event(1)), headers=headers)
    assert response.status_code == 415


async def test_a_forged_fallback_notice_is_refused(
    tmp_path: Path, token_file: Path, log: DurableLog, serve: Any, http: httpx.AsyncClient
) -> None:
    """Only the gateway records that it e-mailed someone (org.tracseq.alarm.notified)."""
    server = await serve(config_with(tmp_path, token_file))
    forged = lims_event(1, type=events.ALARM_NOTIFIED)
    response = await http.post(server.url, content=orjson.dumps([forged]), headers=BATCH)
    assert response.status_code == 400
    assert "reserved" in response.json()["errors"][0]["message"]
