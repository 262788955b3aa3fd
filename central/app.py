"""The central service's ASGI app: `create_app(settings)` wires storage, auth and routes.

No global state: everything a request needs hangs off the `Services` the factory builds
(central/services.py). What a route does not handle is answered by the exception handlers
registered here once (central/exceptions.py): 503 for an unreachable database, 500 and a
logged traceback for anything else.

The lifespan migrates the schema (retrying while the database is down: /readyz shows it)
and runs the gateway-offline watchdog, the calibration-due watch, the notification sender
(central/notify/), the `--heartbeat-url` dead man's switch and, with `--audit-key`, the
audit checkpoints (central/trail.py); on PostgreSQL also the live feed shared by all
instances (central/livefeed.py) and the readings partitions (central/storage/partitions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from central import (
    admin,
    audit_api,
    calibration,
    calibration_api,
    dashboard,
    exceptions,
    livefeed,
    probes,
    queries,
    report_api,
    sessions,
    signature_api,
)
from central.auth import Authenticator
from central.ingest import Ingest
from central.metrics import Metrics
from central.notify import api as notify_api
from central.notify import heartbeat
from central.notify.service import Notify
from central.services import Services
from central.settings import Settings
from central.signing import load_key
from central.storage import SqlStorage, StorageError, open_storage, partitions
from central.trail import Trail
from central.watchdog import Watchdog
from runtime.backoff import Backoff, RetryLog

log = logging.getLogger("tracseq.central")


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
    if settings.audit_key is not None:
        services.trail = Trail(store, load_key(Path(settings.audit_key)), services.hub, clock)
    services.notify = Notify(
        store,
        settings.notifications,
        services.metrics.registry,
        clock,
        poll=settings.notify_poll,
        refresh_every=settings.notify_refresh,
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

    routes = [
        *probes.routes(services),
        Route("/api/v1/ingest", ingest.handle, methods=["POST"]),
        *signature_api.routes(services),  # before queries: --require-signatures guards ack
        *report_api.routes(services),
        *calibration_api.routes(services),
        *queries.routes(services),
        *sessions.routes(services),
        *admin.routes(services),
        *audit_api.routes(services),
        *notify_api.routes(services),
        *dashboard.routes(services),  # last: mounted at "/"
    ]

    app = Starlette(
        routes=routes,
        lifespan=partial(_lifespan, services),
        middleware=[Middleware(exceptions.BugTrap)],
        exception_handlers=exceptions.HANDLERS,
    )
    app.state.services = services
    return app


@contextlib.asynccontextmanager
async def _lifespan(services: Services, app: Starlette) -> AsyncIterator[None]:
    """Migrate and watch in the background while the app serves; close storage at the end."""
    settings = services.settings
    watchdog = Watchdog(
        services.storage, services.metrics, services.hub, settings.offline_after, services.clock
    )
    release = services.notify.catch_sighup() if services.notify is not None else None
    try:
        async with asyncio.TaskGroup() as group:
            task = group.create_task(_serve_background(services, watchdog))
            feed = group.create_task(services.hub.run())
            yield
            task.cancel()
            feed.cancel()
    finally:
        if release is not None:
            release()
        await services.storage.close()


async def _serve_background(services: Services, watchdog: Watchdog) -> None:
    """Migrate (retrying while the database is unreachable), then watch for silent gateways."""
    backoff = Backoff(base=0.5, cap=30.0)
    retry = RetryLog(log, f"opening the database {services.storage.describe}")
    while True:
        try:
            version = await services.storage.migrate()
        except StorageError as exc:  # down, or a newer schema: /readyz says which until fixed
            retry.failed(exc)
            await asyncio.sleep(backoff.next_delay())
            continue
        retry.succeeded()
        log.info("database %s ready (schema v%d)", services.storage.describe, version)
        services.ready = True
        break
    settings = services.settings
    async with asyncio.TaskGroup() as group:
        if services.trail is not None:
            group.create_task(services.trail.run(settings.audit_checkpoint_every))
        if services.storage.backend == "postgresql":
            group.create_task(partitions.run(settings.db_url, settings.retention, services.clock))
        group.create_task(calibration.watch(services))
        if services.notify is not None:
            group.create_task(services.notify.run())
        if settings.heartbeat_url:
            group.create_task(
                heartbeat.run(
                    settings.heartbeat_url, partial(_healthy, services), settings.heartbeat_interval
                )
            )
        await watchdog.run()


async def _healthy(services: Services) -> bool:
    """For the heartbeat: the database answers and notifications are being sent."""
    if services.notify is not None and not services.notify.running:
        return False
    try:
        await asyncio.wait_for(services.storage.ping(), 5.0)
    except (StorageError, TimeoutError):
        return False
    return True
