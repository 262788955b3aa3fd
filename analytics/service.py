"""HTTP of the analytics processor: /healthz (= /health), /readyz, /metrics.

/healthz answers 200 while the process runs, and says whether Redis is reachable
(`"redis": "down"` with the error), so monitoring sees a degraded processor without the
processor restarting; /readyz is 503 until Redis answers.
"""

from __future__ import annotations

import socket
import time

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from analytics.consumer import Processor
from analytics.forward import Forwarder
from runtime.http_server import QuietServer, bind_socket


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


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a port in use is an error at start-up."""
    return bind_socket(host, port)


async def serve(
    processor: Processor, sock: socket.socket, forwarder: Forwarder | None = None
) -> None:
    """Serve the app on an already bound socket until cancelled."""
    app = build_app(processor, forwarder)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    try:
        await QuietServer(config).serve(sockets=[sock])
    finally:
        sock.close()
