"""An ASGI app served by uvicorn inside our own event loop, as a supervised component.

uvicorn normally installs its own SIGINT/SIGTERM handlers; the daemon owns signals (it
must flush the log before exiting), so this server leaves them alone.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from runtime.health import Health
from runtime.http_limits import HEADER_TIMEOUT, limits


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers (the service's main loop owns signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a port in use is reported at start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """Serves `app` on host:port until cancelled (a Component)."""

    def __init__(
        self, name: str, app: ASGIApp, host: str, port: int, header_timeout: float = HEADER_TIMEOUT
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            proxy_headers=False,  # X-Forwarded-* from any peer is not the client's address
            **limits(header_timeout),
        )
        self._server: QuietServer | None = None
        self._state = Health("starting", f"http://{host}:{port}")

    def bind(self) -> socket.socket:
        return bind_socket(self.host, self.port)

    async def run(self) -> None:
        self._server = QuietServer(self._config)
        sock = self.bind()
        self._state = Health("connected", f"http://{self.host}:{self.port}")
        try:
            await self._server.serve(sockets=[sock])
        finally:
            self._state = Health("stopped", "")
            sock.close()

    def health(self) -> Health:
        return self._state
