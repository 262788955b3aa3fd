"""The service's own endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from central.openapi import spec
from central.services import Services
from central.storage import StorageError


def routes(services: Services) -> list[Route]:
    probes = Probes(services)
    return [
        Route("/healthz", probes.healthz),
        Route("/health", probes.healthz),
        Route("/readyz", probes.readyz),
        Route("/metrics", probes.metrics),
        Route("/openapi.json", probes.openapi),
    ]


class Probes:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """200 when the database answers (within 5 s) and the live feed listens, else 503."""
        store = self.services.storage
        try:
            await asyncio.wait_for(store.ping(), 5.0)
        except (StorageError, TimeoutError) as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, 503)
        if not self.services.hub.live:
            return JSONResponse({"status": "unavailable", "live": "not listening"}, 503)
        return JSONResponse({"status": "ok", "database": store.describe})

    async def metrics(self, request: Request) -> Response:
        metrics = self.services.metrics
        metrics.stream_clients.set(self.services.hub.clients)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(spec())
