"""The durable log: every reading, alarm and gateway event, committed before anything else.

A small subsystem, one concept per module:
- `durable`: `DurableLog`, what the gateway uses (append, cursors, state, reads, listeners);
- `writer`: the one writer thread and its group commit (`async with Writer(...)`);
- `window`: the commit window (when to commit what is waiting);
- `retention`: age pruning and the size cap `max_bytes`;
- `state`: cursors, key/value state and the log's own counters;
- `reads`: reads for consumers (recent entries from memory) and `LogSnapshot` for tools.

Each committed entry gets the next `seq` (gap-free, never reused). Consumers (`redis`,
`sync`) follow named cursors that only move forward. The guarantees — crash, power loss,
full disk, size cap — are written down in docs/buffer.md.
"""

from __future__ import annotations

from edge.log.durable import DEFAULT_COMMIT_WINDOW, DurableLog, Listener
from edge.log.reads import LogSnapshot
from edge.log.stats import LogStats
from edge.log.writer import OnCommit

__all__ = ["DEFAULT_COMMIT_WINDOW", "DurableLog", "Listener", "LogSnapshot", "LogStats", "OnCommit"]
