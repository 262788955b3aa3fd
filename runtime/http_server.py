"""An ASGI app served by uvicorn inside our own event loop, as a supervised component.

uvicorn normally installs its own SIGINT/SIGTERM handlers; the daemon owns signals (it
must flush the log before exiting), so this server leaves them alone.

Stopping matters as much as starting: uvicorn only runs its `shutdown()` when its main loop
sees `should_exit`, never when its task is cancelled. A cancelled server left its listening
socket registered in the event loop's selector; the next listener (a SIGHUP reload) that got
the same fd number was then never polled and every request to it hung. So `HttpServer.run`
asks uvicorn to exit and waits for it, and `answers()` lets the systemd watchdog check that
the listener really accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from runtime.health import Health

log = logging.getLogger("tracseq.http")

SHUTDOWN_GRACE_S = 2.0  # open requests get this long to finish when the server stops
PROBE_TIMEOUT_S = 2.0


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


async def serve_until_cancelled(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run `server` on `sock`; on cancellation stop it the way uvicorn stops itself.

    uvicorn runs in a child task awaited here (shielded, so our cancellation does not cut
    its shutdown short): cancelling sets `should_exit`, uvicorn closes its listener, asks
    open connections to finish and returns. After SHUTDOWN_GRACE_S it is forced.
    """
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE_S):
                await asyncio.shield(serving)
        except TimeoutError:
            server.force_exit = True
            log.warning("http server: open requests did not finish; closing them")
        raise
    finally:
        # Whatever happened above: no listener of ours stays in the selector, no task left.
        for listener in getattr(server, "servers", ()):
            listener.close()
        sock.close()
        if not serving.done():
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving


def probe_host(host: str) -> str:
    """The address a local client reaches a listener on `host` at (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


async def answers(host: str, port: int, path: str = "/healthz") -> bool:
    """True when GET `path` on host:port returns 200 within PROBE_TIMEOUT_S."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(probe_host(host), port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            status = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    return status.split(b" ", 2)[1:2] == [b"200"]


class HttpServer:
    """Serves `app` on host:port until cancelled (a Component)."""

    def __init__(self, name: str, app: ASGIApp, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self._state = Health("starting", f"http://{host}:{port}")

    def bind(self) -> socket.socket:
        return bind_socket(self.host, self.port)

    async def run(self) -> None:
        sock = self.bind()
        self._state = Health("connected", f"http://{self.host}:{self.port}")
        try:
            await serve_until_cancelled(QuietServer(self._config), sock)
        finally:
            self._state = Health("stopped", "")

    async def answers(self) -> bool:
        """Does the listener accept and answer /healthz? (the watchdog's self-probe)"""
        return await answers(self.host, self.port)

    def health(self) -> Health:
        return self._state
