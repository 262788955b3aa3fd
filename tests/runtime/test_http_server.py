"""The HTTP server component: a stopped server frees its listener, the watchdog trusts it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.clock import SystemClock
from runtime.http_server import HttpServer
from runtime.systemd import watchdog_loop
from tests.servers import free_port


def healthz_app() -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/healthz", healthz)])


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110 polls a real socket, no event to wait on
            await asyncio.sleep(0.02)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.recv(4096).decode())
    return out


async def test_a_server_started_after_a_cancelled_one_answers_every_time() -> None:
    # Each restart reuses the fd number the cancelled listener had: it must still accept.
    for _ in range(20):
        server = HttpServer("http", healthz_app(), "127.0.0.1", free_port())
        task = asyncio.create_task(server.run())
        await wait_for(server.answers)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not await server.answers()


async def test_the_watchdog_pings_only_while_the_http_server_answers(
    notify_socket: socket.socket,
) -> None:
    server = HttpServer("http", healthz_app(), "127.0.0.1", free_port())
    probes = 0

    async def alive() -> bool:
        nonlocal probes
        probes += 1
        return await server.answers()

    async def probed(n: int) -> bool:
        return probes >= n

    pings: list[str] = []

    async def pinged() -> bool:
        pings.extend(received(notify_socket))
        return any("WATCHDOG=1" in m for m in pings)

    watchdog = asyncio.create_task(watchdog_loop(SystemClock(), 0.05, alive))
    serving: asyncio.Task[None] | None = None
    try:
        await wait_for(lambda: probed(3))  # three failed probes: not one ping
        assert not await pinged()
        serving = asyncio.create_task(server.run())
        await wait_for(pinged)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        since = probes
        await wait_for(lambda: probed(since + 1))  # every probe from here on finds no server
        received(notify_socket)
        await wait_for(lambda: probed(since + 4))
        pings.clear()
        assert not await pinged()
    finally:
        for task in (watchdog, serving):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
