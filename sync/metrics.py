"""The uploader's metrics (names `tracseq_sync_<what>_<unit>`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LAG = Gauge(
    "tracseq_sync_lag_seconds",
    "Age of the oldest event not yet stored at central (0 when caught up)",
)
BATCHES = Counter(
    "tracseq_sync_batches_total",
    "POSTs to central by result (ok, rejected, too_large, retry, auth, refused)",
    ["result"],
)
EVENTS = Counter(
    "tracseq_sync_events_total",
    "Events central acknowledged, by result (accepted, duplicate)",
    ["result"],
)
QUARANTINED = Counter(
    "tracseq_sync_quarantined_total",
    "Events central rejected, kept in the log's quarantine table",
)
LAST_SUCCESS = Gauge(
    "tracseq_sync_last_success_timestamp_seconds",
    "Wall-clock time of the last batch central stored",
)
