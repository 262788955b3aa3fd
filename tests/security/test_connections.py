"""Central's and the edge's listeners (issue 13, items 4, 8 and 16).

Idle and slow connections are closed (a header-read deadline; ~1,030 idle sockets used to
exhaust central), the connection limit answers 503 instead of hanging, X-Forwarded-For is
believed only from `--forwarded-allow-ips`, and central serves https with `--tls-cert`.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from runtime.http_server import HttpServer
from tests.central.conftest import Central, fresh_db, start_central
from tests.security.tls import make_pki
from tests.servers import free_port, wait_until

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # never finished


def closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except OSError:
        return True


@contextlib.contextmanager
def idle_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections: a third silent, a third with half a request, a third trickling
    one header byte at a time (each byte used to restart uvicorn's keep-alive timer)."""
    socks = []
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 3 == 1:
                s.sendall(SLOW_HEAD)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def all_closed(socks: list[socket.socket]) -> bool:
    for i, s in enumerate(socks):
        if i % 3 == 2:
            with contextlib.suppress(OSError):
                s.send(b"X")  # trickle: a byte of a header that never ends
    return all(closed_by_peer(s) for s in socks)


@pytest.fixture
def central(tmp_path: Path, postgres_url: str) -> Iterator[Central]:
    with (
        fresh_db("sqlite", tmp_path, postgres_url) as db,
        start_central(db, "sqlite", tmp_path, "--header-timeout", "1s") as c,
    ):
        yield c


def test_central_answers_and_closes_200_idle_or_slow_connections(central: Central) -> None:
    with idle_sockets(central.server.port, 200) as socks:
        assert httpx.get(f"{central.url}/healthz", timeout=10).status_code == 200
        wait_until(lambda: all_closed(socks), timeout=20, interval=0.2)
    assert httpx.get(f"{central.url}/healthz", timeout=10).status_code == 200


def test_central_answers_503_beyond_its_connection_limit(tmp_path: Path, postgres_url: str) -> None:
    flags = ("--header-timeout", "1s", "--max-connections", "5")
    with (
        fresh_db("sqlite", tmp_path, postgres_url) as db,
        start_central(db, "sqlite", tmp_path, *flags) as c,
        idle_sockets(c.server.port, 6) as socks,
    ):
        # Give the server time to accept them all: each silent one counts once accepted.
        wait_until(lambda: httpx.get(f"{c.url}/healthz").status_code == 503, timeout=10)
        wait_until(lambda: all_closed(socks), timeout=20, interval=0.2)
        assert httpx.get(f"{c.url}/healthz").status_code == 200


def test_the_edges_listener_closes_idle_connections() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    port = free_port()
    app = Starlette(routes=[Route("/healthz", hello)])
    server = HttpServer("http", app, "127.0.0.1", port, header_timeout=0.5)

    async def serve() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # the test's way to stop it
            await server.run()

    loop = asyncio.new_event_loop()
    task = loop.create_task(serve())
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        with idle_sockets(port, 60) as socks:
            assert answers(f"http://127.0.0.1:{port}/healthz")
            wait_until(lambda: all_closed(socks), timeout=20, interval=0.2)
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()


def answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def failed_login_actor(central: Central) -> str:
    answer = httpx.post(
        f"{central.url}/api/v1/session",
        json={"username": "nobody", "password": "wrong"},
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 401
    entries = central.get("/api/v1/audit", role="admin").json()["entries"]
    return str(next(e["actor"] for e in entries if e["action"] == "session.login_failed"))


def test_forwarded_headers_are_ignored_unless_the_proxy_is_allowed(
    central: Central, tmp_path: Path, postgres_url: str
) -> None:
    assert failed_login_actor(central) == "remote:127.0.0.1"
    other = tmp_path / "proxied"
    other.mkdir()
    with (
        fresh_db("sqlite", other, postgres_url) as db,
        start_central(db, "sqlite", other, "--forwarded-allow-ips", "127.0.0.1") as proxied,
    ):
        assert failed_login_actor(proxied) == "remote:203.0.113.9"


def test_central_serves_https_with_tls_cert_and_key(tmp_path: Path, postgres_url: str) -> None:
    pki = make_pki(tmp_path / "pki")
    flags = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    with (
        fresh_db("sqlite", tmp_path, postgres_url) as db,
        start_central(db, "sqlite", tmp_path, *flags) as c,
    ):
        url = f"https://127.0.0.1:{c.server.port}/healthz"
        right = ssl.create_default_context(cafile=str(pki.ca))
        assert httpx.get(url, verify=right).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, verify=ssl.create_default_context(cafile=str(pki.wrong_ca)))
        assert "central listening on https://" in c.server.log.read_text()
