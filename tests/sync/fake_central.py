"""A tiny central for the uploader's tests: a real Starlette app on real uvicorn (loopback).

It speaks the ingest contract (gzip, bearer token, 400 naming index and field, de-duplication
on the event id) and lets a test inject answers (500, 429 + Retry-After, ...) in order, or
stop and start the server on the same port to simulate an outage.
"""

from __future__ import annotations

import gzip
import math
import subprocess
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime import events
from runtime.errors import EnvelopeError
from tests.servers import free_port, wait_until


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeCentral:
    """Ingest endpoint with injectable faults; `stored` maps event id -> event."""

    def __init__(
        self,
        token: str = "s3cret",
        *,
        max_events: int | None = None,
        tls: tuple[Path, Path] | None = None,  # (certificate, key) to serve https
    ) -> None:
        self.token = token
        self.tls = tls
        self.max_events = max_events  # more events in one request -> 413
        self.stored: dict[str, dict[str, Any]] = {}
        self.deliveries: Counter[str] = Counter()  # event id -> times received in a 200 batch
        self.statuses: list[int] = []
        self.faults: deque[Fault] = deque()
        # Set: every authorised request is refused with this 400 message naming no event.
        self.refusing: str | None = None
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/api/v1/ingest", self.ingest, methods=["POST"])])
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def ingest(self, request: Request) -> Response:
        response = await self._answer(request)
        with self.lock:
            self.statuses.append(response.status_code)
        return response

    async def _answer(self, request: Request) -> Response:
        with self.lock:
            fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            return JSONResponse({"error": "injected"}, fault.status, headers=fault.headers)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "bad token"}, 401)
        if self.refusing is not None:
            return JSONResponse({"error": self.refusing}, 400)
        if request.headers.get("content-type") != events.BATCH_MEDIA_TYPE:
            return JSONResponse({"error": "content type"}, 415)
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        batch = orjson.loads(body)
        if self.max_events is not None and len(batch) > self.max_events:
            return JSONResponse({"error": "too many events"}, 413)
        errors = [error for index, obj in enumerate(batch) if (error := _invalid(index, obj))]
        if errors:
            return JSONResponse({"errors": errors}, 400)
        accepted = duplicates = 0
        with self.lock:
            for obj in batch:
                self.deliveries[obj["id"]] += 1
                if obj["id"] in self.stored:
                    duplicates += 1
                else:
                    self.stored[obj["id"]] = obj
                    accepted += 1
        return JSONResponse({"accepted": accepted, "duplicates": duplicates})

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        server = self._server
        wait_until(lambda: server.started, timeout=10)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None


def _invalid(index: int, obj: Any) -> dict[str, Any] | None:
    try:
        event = events.parse(obj)
    except EnvelopeError as exc:
        return {"index": index, "field": exc.field, "message": str(exc)}
    if event.type == events.READING:
        value = event.data.get("value")
        if not isinstance(value, int | float) or not math.isfinite(value):
            return {"index": index, "field": "data.value", "message": "must be a number"}
    return None


def write_token(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    return path


def make_tls(workdir: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1: (ca, certificate, key)."""
    ca, ca_key = workdir / "ca.pem", workdir / "ca.key"
    cert, key, csr = workdir / "server.pem", workdir / "server.key", workdir / "server.csr"
    ext = workdir / "ext.cnf"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=lab CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)
    return ca, cert, key
