"""Live events for the dashboard: `GET /api/v1/stream` (Server-Sent Events).

Every event central stores (or raises itself, like `gateway_offline`) is numbered and kept
in a bounded in-memory buffer. An SSE `id` is `<process epoch>-<number>`: a client that
reconnects with `Last-Event-ID` gets everything it missed while that is still buffered;
when it is not (the buffer moved on, or central restarted) it gets an `event: reset` and
reloads its state from the query API. Heartbeat comments keep proxies from closing an
idle connection and let the client notice a dead one.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

HEARTBEAT_SECONDS = 15.0


class Hub:
    """A numbered, bounded buffer of recent events plus the clients waiting for more."""

    def __init__(self, size: int) -> None:
        self.epoch = secrets.token_hex(4)
        self._buffer: deque[tuple[int, dict[str, Any]]] = deque(maxlen=size)
        self._next = 1
        self._waiters: set[asyncio.Event] = set()

    @property
    def clients(self) -> int:
        return len(self._waiters)

    def publish(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self._buffer.append((self._next, event))
            self._next += 1
        for waiter in self._waiters:
            waiter.set()

    def resume_point(self, last_event_id: str | None) -> int | None:
        """The number to send after, or None when the client must reset."""
        if not last_event_id:
            return self._next - 1
        epoch, _, number = last_event_id.partition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        after = int(number)
        oldest = self._buffer[0][0] if self._buffer else self._next
        if after + 1 < oldest or after >= self._next:
            return None
        return after

    async def follow(
        self, last_event_id: str | None, heartbeat: float = HEARTBEAT_SECONDS
    ) -> AsyncIterator[bytes]:
        """SSE frames from after `last_event_id`, forever, with heartbeat comments."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            after = self.resume_point(last_event_id)
            yield b": connected\n\n"
            if after is None:
                after = self._next - 1
                yield f"id: {self.epoch}-{after}\nevent: reset\ndata: {{}}\n\n".encode()
            while True:
                for number, event in self._since(after):
                    after = number
                    yield _frame(f"{self.epoch}-{number}", event)
                waiter.clear()
                if self._next - 1 > after:
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), heartbeat)
                except TimeoutError:
                    yield b": heartbeat\n\n"
        finally:
            self._waiters.discard(waiter)

    def _since(self, after: int) -> list[tuple[int, dict[str, Any]]]:
        if not self._buffer or self._buffer[-1][0] <= after:
            return []
        start = max(0, after + 1 - self._buffer[0][0])
        return [self._buffer[i] for i in range(start, len(self._buffer))]


def _frame(event_id: str, event: dict[str, Any]) -> bytes:
    kind = str(event.get("type", "message"))
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        event_id.encode(),
        kind.encode(),
        orjson.dumps(event),
    )
