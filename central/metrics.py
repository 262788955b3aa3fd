"""Prometheus metrics of the central service, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tracseq_central_ingest_requests_total",
            "Ingest requests by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.events = Counter(
            "tracseq_central_ingest_events_total",
            "Events received by ingest, by outcome (accepted, duplicate, invalid)",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tracseq_central_ingest_seconds",
            "Time to validate and store one ingest batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.inflight = Gauge(
            "tracseq_central_ingest_inflight_requests",
            "Ingest requests being processed",
            registry=self.registry,
        )
        self.offline = Counter(
            "tracseq_central_gateway_offline_alarms_total",
            "gateway_offline alarms raised by the watchdog",
            registry=self.registry,
        )
        self.stream_clients = Gauge(
            "tracseq_central_stream_clients",
            "Connected Server-Sent Events clients",
            registry=self.registry,
        )
