"""Keep the start-up heap out of the garbage collector's way.

A service imports its libraries (the OpenTelemetry SDK and its exporter alone add some
10,000 objects), builds its config and starts its components, and all of that lives
until the process ends. Every full collection would scan it again; frozen, it is not
scanned. Objects created later are collected as usual.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_heap() -> None:
    """Move what is alive after start-up into the collector's permanent generation (once
    per process; start-up garbage is collected first, so it is not kept forever)."""
    global _frozen
    if _frozen:
        return
    gc.collect()
    gc.freeze()
    _frozen = True
