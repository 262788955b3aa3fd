"""The durable log's counters, as an operator sees them in /metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class LogStats:
    """Counters an operator sees in /metrics and `status`."""

    committed_entries: int = 0
    duplicates: int = 0
    rejects: int = 0
    commits: int = 0
    dropped_delivered: int = 0
    dropped_undelivered: int = 0
    pruned: int = 0
    write_errors: int = 0
    last_error: str | None = None
    used_bytes: int = 0
