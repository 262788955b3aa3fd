"""The supervisor: every long-lived part of a service is a `Component` run under it.

Components run in one TaskGroup. A component that fails is logged and restarted with
capped backoff (never a crash of the whole daemon); cancellation is normal shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter

from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.errors import TracseqError
from runtime.health import Health

log = logging.getLogger("tracseq.edge.supervisor")

RESTARTS = Counter(
    "tracseq_edge_component_restarts_total", "Components restarted after a failure", ["component"]
)


class Component(Protocol):
    @property
    def name(self) -> str: ...

    async def run(self) -> None:
        """Work until cancelled; raising means 'restart me after a backoff'."""
        ...

    def health(self) -> Health: ...


@dataclass
class FunctionComponent:
    """A component made of a coroutine function (for small loops like the heartbeat)."""

    name: str
    body: Callable[[], Awaitable[None]]
    state: Health = field(default_factory=lambda: Health("connected"))

    async def run(self) -> None:
        await self.body()

    def health(self) -> Health:
        return self.state


class Supervisor:
    """Runs components, restarting any that fail; `health()` maps names to their health."""

    def __init__(self, clock: Clock, backoff_cap: float = 30.0) -> None:
        self._clock = clock
        self._cap = backoff_cap
        self.components: list[Component] = []
        self.failures: dict[str, str] = {}

    def add(self, component: Component) -> None:
        self.components.append(component)

    async def run(self) -> None:
        """Run every component until cancelled (an empty supervisor just waits)."""
        if not self.components:
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as group:
            for component in self.components:
                group.create_task(self._keep_running(component), name=component.name)

    async def _keep_running(self, component: Component) -> None:
        backoff = Backoff(base=0.5, cap=self._cap)
        while True:
            started = self._clock.monotonic()
            try:
                await component.run()
                log.info("component %s finished", component.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._clock.monotonic() - started > 60:
                    backoff.reset()
                delay = backoff.next_delay()
                self.failures[component.name] = f"{type(exc).__name__}: {exc}"
                RESTARTS.labels(component=component.name).inc()
                if isinstance(exc, TracseqError):  # an expected failure: its message says it
                    log.error(
                        "component %s failed: %s; restarting in %.1fs", component.name, exc, delay
                    )
                else:  # a bug: the traceback is what its fix needs
                    log.exception("component %s failed; restarting in %.1fs", component.name, delay)
                await self._clock.sleep(delay)

    def health(self) -> dict[str, Health]:
        out = {}
        for component in self.components:
            try:
                out[component.name] = component.health()
            except Exception as exc:  # noqa: BLE001 -- health must never break /readyz
                out[component.name] = Health("degraded", f"health check failed: {exc}")
        return out
