"""Metrics shared by several components (each component keeps its own others).

`tracseq_edge_log_pending_events{cursor}`: entries committed to the durable log but not
yet delivered past a cursor (`redis`, `sync`). Defined once here because a metric name
can be registered only once; each publisher sets its own label.
"""

from __future__ import annotations

from prometheus_client import Gauge

LOG_PENDING = Gauge(
    "tracseq_edge_log_pending_events",
    "Events committed to the durable log but not yet delivered past the cursor",
    ["cursor"],
)
