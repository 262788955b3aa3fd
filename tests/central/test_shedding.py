"""Load shedding: over --max-inflight concurrent ingests, central answers 503 + Retry-After."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.central.conftest import Central, fresh_db, gateway_name, reading, start_central
from tests.servers import wait_until


@pytest.fixture
def small_central(tmp_path: Path, postgres_url: str) -> Iterator[Central]:
    with (
        fresh_db("sqlite", tmp_path, postgres_url) as db,
        start_central(db, "sqlite", tmp_path, "--max-inflight", "1") as server,
    ):
        yield server


def inflight(central: Central) -> float:
    for line in central.client.get(f"{central.url}/metrics").text.splitlines():
        if line.startswith("tracseq_central_ingest_inflight_requests "):
            return float(line.split()[1])
    return 0.0


def test_busy_central_answers_503_with_retry_after(small_central: Central) -> None:
    gw = gateway_name()
    token = small_central.token(gw)
    # A slow uploader: headers and half of a body, the rest withheld.
    slow = socket.create_connection(("127.0.0.1", small_central.server.port))
    head = (
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/cloudevents-batch+json\r\nContent-Length: 1000\r\n\r\n["
    )
    slow.sendall(head.encode())
    try:
        wait_until(lambda: inflight(small_central) == 1.0, timeout=10)
        answer = small_central.ingest(token, [reading(gw, 1, "s", 1.0)])
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
    finally:
        slow.close()
    wait_until(lambda: inflight(small_central) == 0.0, timeout=10)
    assert small_central.ingest(token, [reading(gw, 1, "s", 1.0)]).status_code == 200
