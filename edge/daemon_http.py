"""The daemon's HTTP endpoints: /healthz (alive), /readyz (each component), /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.log import DurableLog
from runtime.health import Health


def build_app(
    health: Callable[[], dict[str, Health]],
    log: Callable[[], DurableLog],
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The Starlette app on gateway.listen; `extra_routes` adds e.g. the event intake."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        components = {
            name: {"state": h.state, "ready": h.ready, "detail": h.detail, **h.counters}
            for name, h in health().items()
        }
        the_log = log()
        body: dict[str, Any] = {
            "ready": all(c["ready"] for c in components.values()),
            "components": components,
            "log": {
                "last_seq": the_log.last_seq,
                "pending": {c: the_log.pending(c) for c in the_log.cursor_names},
                "used_bytes": the_log.stats.used_bytes,
                "max_bytes": the_log.max_bytes,
                "dropped_undelivered": the_log.stats.dropped_undelivered,
                "write_errors": the_log.stats.write_errors,
            },
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/health", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *extra_routes,
    ]
    return Starlette(routes=routes)


class LogCollector(Collector):
    """Exports the durable log's figures at scrape time (no bookkeeping on the hot path)."""

    def __init__(self, log: Callable[[], DurableLog | None]) -> None:
        self._log = log

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        the_log = self._log()
        if the_log is None:
            return
        stats = the_log.stats
        # tracseq_edge_log_pending_events{cursor} is set by the publishers (edge/metrics.py).
        yield GaugeMetricFamily(
            "tracseq_edge_log_last_seq", "Last committed seq", value=the_log.last_seq
        )
        yield GaugeMetricFamily(
            "tracseq_edge_log_used_bytes", "Bytes used by the durable log", value=stats.used_bytes
        )
        yield GaugeMetricFamily(
            "tracseq_edge_log_max_bytes", "Configured buffer.max_bytes", value=the_log.max_bytes
        )
        dropped = CounterMetricFamily(
            "tracseq_edge_log_dropped", "Rows dropped by the size cap", labels=["kind"]
        )
        dropped.add_metric(["delivered"], stats.dropped_delivered)
        dropped.add_metric(["undelivered"], stats.dropped_undelivered)
        yield dropped
        yield CounterMetricFamily("tracseq_edge_log_commits", "Group commits", value=stats.commits)
        yield CounterMetricFamily(
            "tracseq_edge_log_duplicates", "Redelivered readings ignored", value=stats.duplicates
        )
        yield CounterMetricFamily(
            "tracseq_edge_log_write_errors", "Failed log writes", value=stats.write_errors
        )
