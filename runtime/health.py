"""A component's health as /readyz shows it: the same shape in every service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["starting", "connected", "disconnected", "degraded", "stopped"]


@dataclass(slots=True)
class Health:
    """A component's state for /readyz: ready when connected."""

    state: State = "starting"
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == "connected"
