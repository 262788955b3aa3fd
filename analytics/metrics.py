"""Prometheus metrics of one processor instance (own registry, so tests can run two).

Per-sensor gauges are capped at `max_sensor_gauges` series: sensors beyond the cap are
not exported and `tracseq_analytics_sensor_gauges_dropped` counts them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from analytics.classify import STATUSES


class Metrics:
    def __init__(self, max_sensor_gauges: int) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.processed = Counter(
            "tracseq_analytics_events_processed_total", "events applied, by type", ["type"],
            registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "tracseq_analytics_events_duplicate_total",
            "events skipped because their id was already applied", registry=r,
        )  # fmt: skip
        self.emitted = Counter(
            "tracseq_analytics_events_emitted_total", "analytics events written, by type",
            ["type"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "tracseq_analytics_errors_total",
            "rejected entries and Redis failures, by kind", ["kind"], registry=r,
        )  # fmt: skip
        self.conflicts = Counter(
            "tracseq_analytics_commit_conflicts_total",
            "batches recomputed because another instance changed a sensor first", registry=r,
        )  # fmt: skip
        self.claimed = Counter(
            "tracseq_analytics_claimed_total", "entries claimed from idle consumers", registry=r
        )
        self.forwarded = Counter(
            "tracseq_analytics_forwarded_total", "analytics events accepted by central", registry=r
        )
        self.latency = Histogram(
            "tracseq_analytics_processing_latency_seconds",
            "from an entry's arrival on the stream to the commit of its effects",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.lag = Gauge(
            "tracseq_analytics_consumer_lag_events",
            "entries in the stream not yet delivered to the group", registry=r,
        )  # fmt: skip
        self.pending = Gauge(
            "tracseq_analytics_pending_events",
            "entries delivered to the group but not acknowledged", registry=r,
        )  # fmt: skip
        self.redis_up = Gauge(
            "tracseq_analytics_redis_up", "1 when Redis answers, else 0", registry=r
        )
        self.sensor_value = Gauge(
            "tracseq_analytics_sensor_value", "latest value per sensor (capped)", ["sensor"],
            registry=r,
        )  # fmt: skip
        self.sensor_status = Gauge(
            "tracseq_analytics_sensor_status",
            "1 for the sensor's current status (capped)", ["sensor", "status"], registry=r,
        )  # fmt: skip
        self.gauges_dropped = Gauge(
            "tracseq_analytics_sensor_gauges_dropped",
            "sensors not exported because of the cardinality cap", registry=r,
        )  # fmt: skip
        self._cap = max_sensor_gauges
        self._exported: set[str] = set()
        self._dropped: set[str] = set()

    def sensor(self, sensor: str, value: float | None, status: str | None) -> None:
        """Set a sensor's gauges, unless that would pass the cardinality cap."""
        if sensor not in self._exported:
            if len(self._exported) >= self._cap:
                if sensor not in self._dropped and len(self._dropped) < 100_000:
                    self._dropped.add(sensor)
                    self.gauges_dropped.set(len(self._dropped))
                return
            self._exported.add(sensor)
        if value is not None:
            self.sensor_value.labels(sensor).set(value)
        if status is not None:
            for name in STATUSES:
                self.sensor_status.labels(sensor, name).set(1.0 if name == status else 0.0)
