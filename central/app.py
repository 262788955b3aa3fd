"""The central service's ASGI app: `create_app(settings)` wires storage, auth and routes.

No global state: everything a request needs hangs off the `Services` the factory builds.
The lifespan migrates the schema (retrying while the database is down: /readyz shows it)
and runs the gateway-offline watchdog; on PostgreSQL also the live feed shared by all
instances (central/livefeed.py) and the readings partitions (central/storage/partitions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from central import (
    admin,
    audit_api,
    calibration,
    calibration_api,
    dashboard,
    livefeed,
    queries,
    report_api,
    sessions,
    signature_api,
)
from central.auth import Authenticator
from central.ingest import Ingest
from central.metrics import Metrics
from central.openapi import spec
from central.ratelimit import LoginLimiter
from central.settings import Settings
from central.storage import SqlStorage, open_storage, partitions
from central.stream import Hub
from central.watchdog import Watchdog
from runtime.backoff import Backoff, RetryLog

log = logging.getLogger("tracseq.central")


@dataclass(slots=True)
class Services:
    settings: Settings
    storage: SqlStorage
    auth: Authenticator
    metrics: Metrics
    hub: Hub
    clock: Callable[[], float]
    ready: bool = False
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


def create_app(
    settings: Settings,
    *,
    storage: SqlStorage | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    store = storage if storage is not None else open_storage(settings.db_url, clock)
    services = Services(
        settings=settings,
        storage=store,
        auth=Authenticator(store),
        metrics=Metrics(),
        hub=livefeed.hub_for(settings.db_url, settings.stream_buffer),
        clock=clock,
    )
    ingest = Ingest(
        store,
        services.auth,
        services.metrics,
        services.hub,
        clock,
        max_body=settings.max_body,
        max_inflight=settings.max_inflight,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await asyncio.wait_for(store.ping(), 5.0)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, 503)
        if not services.hub.live:
            return JSONResponse({"status": "unavailable", "live": "not listening"}, 503)
        return JSONResponse({"status": "ok", "database": store.describe})

    async def metrics(request: Request) -> Response:
        services.metrics.stream_clients.set(services.hub.clients)
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec())

    routes = [
        Route("/healthz", healthz),
        Route("/health", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/v1/ingest", ingest.handle, methods=["POST"]),
        *signature_api.routes(services),  # before queries: --require-signatures guards ack
        *report_api.routes(services),
        *calibration_api.routes(services),
        *queries.routes(services),
        *sessions.routes(services),
        *admin.routes(services),
        *audit_api.routes(services),
        *dashboard.routes(services),  # last: mounted at "/"
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watchdog = Watchdog(store, services.metrics, services.hub, settings.offline_after, clock)
        try:
            async with asyncio.TaskGroup() as group:
                task = group.create_task(_serve_background(services, watchdog))
                feed = group.create_task(services.hub.run())
                yield
                task.cancel()
                feed.cancel()
        finally:
            await store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app


async def _serve_background(services: Services, watchdog: Watchdog) -> None:
    """Migrate (retrying while the database is unreachable), then watch for silent gateways."""
    backoff = Backoff(base=0.5, cap=30.0)
    retry = RetryLog(log, f"opening the database {services.storage.describe}")
    while True:
        try:
            version = await services.storage.migrate()
        except Exception as exc:
            retry.failed(exc)
            await asyncio.sleep(backoff.next_delay())
            continue
        retry.succeeded()
        log.info("database %s ready (schema v%d)", services.storage.describe, version)
        services.ready = True
        break
    async with asyncio.TaskGroup() as group:
        if services.storage.backend == "postgresql":
            settings = services.settings
            group.create_task(partitions.run(settings.db_url, settings.retention, services.clock))
        group.create_task(calibration.watch(services))
        await watchdog.run()
