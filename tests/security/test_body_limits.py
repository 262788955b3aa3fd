"""Request bodies are bounded on every route: 64 KiB for JSON bodies (sign-in, ack, admin),
answered 413 before central reads the rest, whether the size is declared or streamed.

Before, sign-in, ack and the admin routes read the whole body first (`request.body()`): a
400 MiB body to the anonymous sign-in took central from 97 to 1,250 MiB before its 400.
These tests talk raw HTTP over a socket, so a body can be declared and never sent, or
left open after its first chunks: a 413 can then only come from a central that did not
wait for (or read) the rest.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.security.central_server import RunningCentral, central

MIB = 1024 * 1024
JSON_LIMIT = 64 * 1024
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with central(tmp_path_factory.mktemp("body-limits")) as server:
        yield server


@pytest.fixture(scope="module")
def keys(live: RunningCentral) -> dict[str, str]:
    return {
        "operator": live.api_key("bl-operator", "operator"),
        "admin": live.api_key("bl-admin", "admin"),
    }


def _routes(keys: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(method, path, bearer secret) of every route that takes a JSON body but ingest."""
    return [
        ("POST", "/api/v1/session", None),  # anonymous
        ("POST", "/api/v1/alarms/any-alarm/ack", keys["operator"]),
        ("POST", "/api/v1/users", keys["admin"]),
        ("PATCH", "/api/v1/users/somebody", keys["admin"]),
        ("POST", "/api/v1/tokens", keys["admin"]),
    ]


@contextlib.contextmanager
def _open(
    live: RunningCentral, method: str, path: str, secret: str | None, framing: str
) -> Iterator[socket.socket]:
    """A socket that has sent the request head (and no body yet)."""
    sock = socket.create_connection(("127.0.0.1", live.server.port), timeout=15)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if secret is not None:
        head.append(f"Authorization: Bearer {secret}")
    head.append(framing)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    try:
        yield sock
    finally:
        sock.close()


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The response's status code and body (waits up to the socket timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = [
        int(x.split(b":")[1])
        for x in head.lower().split(b"\r\n")
        if x.startswith(b"content-length:")
    ]
    while len(body) < sum(length):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed in the answer: {data!r}"
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def test_a_declared_400_mib_body_is_413_without_sending_it(
    live: RunningCentral, keys: dict[str, str]
) -> None:
    for method, path, secret in _routes(keys):
        with _open(live, method, path, secret, f"Content-Length: {400 * MIB}") as sock:
            status, answer = _status(sock)  # nothing of the body was sent: no waiting for it
            assert status == 413, (path, answer)
            assert b"limit of 65536 bytes" in answer


def test_a_streamed_body_over_64_kib_is_413_while_the_stream_is_still_open(
    live: RunningCentral, keys: dict[str, str]
) -> None:
    chunk = b"[" + b"0," * (16 * 1024)  # a JSON array that never ends
    for method, path, secret in _routes(keys):
        with _open(live, method, path, secret, "Transfer-Encoding: chunked") as sock:
            sent = 0
            while sent <= JSON_LIMIT:  # just past the limit, then the stream stays open
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            status, answer = _status(sock)
            assert status == 413, (path, answer)
    assert httpx.get(live.url + "/healthz", timeout=10).status_code == 200


def test_a_10_mib_stream_is_refused_after_at_most_the_limit_is_read(
    live: RunningCentral, keys: dict[str, str]
) -> None:
    """Memory stays bounded: central's resident size barely moves while 10 MiB come in."""
    rss_before = _rss(live)
    piece = b"x" * 65536
    with _open(live, "POST", "/api/v1/session", None, "Transfer-Encoding: chunked") as sock:
        answered: tuple[int, bytes] | None = None
        with contextlib.suppress(ConnectionError):
            for _ in range(10 * MIB // len(piece)):
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        answered = _status(sock)
    assert answered[0] == 413
    assert _rss(live) - rss_before < 8 * MIB


def test_a_body_that_does_not_fit_is_400_naming_the_field(
    live: RunningCentral, keys: dict[str, str]
) -> None:
    admin = {"authorization": f"Bearer {keys['admin']}"}
    operator = {"authorization": f"Bearer {keys['operator']}"}
    cases = [
        ("/api/v1/session", {}, {"username": 5, "password": "x"}, "username:"),
        ("/api/v1/session", {}, {"username": "ann"}, "password:"),
        ("/api/v1/alarms/any/ack", operator, {"by": "ann"}, "comment:"),
        ("/api/v1/alarms/any/ack", operator, {"by": " ", "comment": "ok"}, "by:"),
        ("/api/v1/users", admin, {"name": "ann", "role": "boss", "password": PASSWORD}, "role:"),
        ("/api/v1/users", admin, {"name": "ann", "role": "viewer", "password": 7}, "password:"),
        ("/api/v1/tokens", admin, {"gateway": "gw-1", "analytics": "yes"}, "analytics:"),
        ("/api/v1/tokens", admin, ["gw-1"], "body:"),
    ]
    with httpx.Client(timeout=10, headers={"content-type": "application/json"}) as client:
        for path, headers, body, field in cases:
            answer = client.post(live.url + path, content=orjson.dumps(body), headers=headers)
            assert answer.status_code == 400, (path, body, answer.text)
            assert answer.json()["error"].startswith(field), (body, answer.text)
        patch = client.patch(
            live.url + "/api/v1/users/ann", content=b'{"disabled": "no"}', headers=admin
        )
        assert patch.status_code == 400 and patch.json()["error"].startswith("disabled:")
        broken = client.post(live.url + "/api/v1/tokens", content=b"{", headers=admin)
        assert broken.status_code == 400 and "not JSON" in broken.json()["error"]


def _rss(live: RunningCentral) -> int:
    assert live.server.proc is not None
    status = Path(f"/proc/{live.server.proc.pid}/status").read_text()
    (line,) = [x for x in status.splitlines() if x.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024
