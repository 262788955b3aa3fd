"""HTTP of the analytics processor: /healthz (= /health), /readyz, /metrics.

/healthz answers 200 while the process runs, and says whether Redis is reachable
(`"redis": "down"` with the error), so monitoring sees a degraded processor without the
processor restarting; /readyz is 503 until Redis answers.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from central.analytics.consumer import Processor
from central.analytics.forward import Forwarder


def build_app(processor: Processor, forwarder: Forwarder | None = None) -> Starlette:
    """The ASGI app of one processor instance."""

    def report() -> dict[str, object]:
        s, status = processor.settings, processor.status
        return {
            "status": "ok" if status.redis == "up" else "degraded",
            "redis": status.redis,
            "error": status.error,
            "instance": s.instance,
            "stream": s.stream,
            "group": s.group,
            "output": s.output,
            "processed": status.processed,
            "uptime_s": round(time.time() - status.since, 3),
            "central": None if forwarder is None else forwarder.state,
        }

    async def healthz(request: Request) -> Response:
        return JSONResponse(report())

    async def readyz(request: Request) -> Response:
        body = report()
        return JSONResponse(body, status_code=200 if body["redis"] == "up" else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(processor.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/health", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the CLI owns signals


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a port in use is an error at start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(
    processor: Processor, sock: socket.socket, forwarder: Forwarder | None = None
) -> None:
    """Serve the app on an already bound socket until cancelled."""
    app = build_app(processor, forwarder)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    try:
        await _Server(config).serve(sockets=[sock])
    finally:
        sock.close()
