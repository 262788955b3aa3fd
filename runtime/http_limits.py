"""Limits every service's HTTP listener keeps: idle and slow connections are closed.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection
that never sends a request, or sends its headers a byte at a time (each byte cancels the
keep-alive timer), is kept forever: ~1,030 of them exhausted central's file descriptors
and `/healthz` timed out. `guarded_h11(header_timeout)` is uvicorn's h11 protocol with a
header-read deadline: from the moment a connection is idle (accepted, or its previous
response sent) its next request's headers must be complete within `header_timeout`
seconds, else it is closed. `limit_concurrency` (503 beyond that many connections) and
`LimitNOFILE=` in the systemd units bound the rest; a reverse proxy in front adds body
timeouts and per-client connection limits (docs/security.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds for a request's headers, from idle to complete
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection is kept (uvicorn's)
MAX_CONNECTIONS = 1000  # connections before new requests are answered 503


class _GuardedH11Protocol(H11Protocol):
    """H11Protocol closing a connection whose request headers do not arrive in time."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are in: a request is being served

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_h11(header_timeout: float = HEADER_TIMEOUT) -> type[H11Protocol]:
    """uvicorn's `http=` protocol class with this header-read deadline."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"header_timeout": header_timeout})


def limits(
    header_timeout: float = HEADER_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> dict[str, Any]:
    """The uvicorn.Config keyword arguments every listener uses."""
    return {
        "http": guarded_h11(header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "limit_concurrency": max_connections,
    }
