"""Central service fixtures: a real `tracseq-edge central` subprocess on a free loopback port,
on a fresh SQLite file or a fresh PostgreSQL schema (random name, dropped afterwards)."""

from __future__ import annotations

import contextlib
import io
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from central import cli
from runtime import events as ev
from tests.servers import Server, free_port

CLI = [sys.executable, "-m", "edge", "central"]
BACKENDS = ["sqlite", "postgres"]


@contextlib.contextmanager
def fresh_db(backend: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'central.db'}"
        return
    schema = "tracseq_test_" + secrets.token_hex(6)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`tracseq-edge central ...` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@dataclass
class Central:
    """A running central service and helpers to talk to it."""

    server: Server
    db: str
    backend: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def token(self, gateway: str) -> str:
        code, out, err = run_cli("token", "create", gateway, "--db", self.db)
        assert code == 0, err
        return out.split()[-1]

    def key(self, role: str = "viewer") -> str:
        if role not in self._keys:
            name = f"{role}-{secrets.token_hex(3)}"
            code, out, err = run_cli("apikey", "create", name, "--role", role, "--db", self.db)
            assert code == 0, err
            self._keys[role] = out.split()[-1]
        return self._keys[role]

    def ingest(
        self, token: str | None, body: Any, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"content-type": ev.BATCH_MEDIA_TYPE, **(headers or {})}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        content = body if isinstance(body, bytes) else _json(body)
        return self.client.post(f"{self.url}/api/v1/ingest", content=content, headers=sent)

    def get(self, path: str, role: str = "viewer", **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.key(role)}"}
        return self.client.get(f"{self.url}{path}", params=params, headers=headers)

    def post(self, path: str, body: Any, role: str = "operator") -> httpx.Response:
        headers = {"authorization": f"Bearer {self.key(role)}"}
        return self.client.post(f"{self.url}{path}", content=_json(body), headers=headers)

    def count(self, table: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> int:
        """Rows really stored (read from the database, not through the API)."""
        if self.backend == "sqlite":
            import sqlite3

            path = self.db.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path)) as conn:
                row = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
                return int(row.fetchone()[0])
        with psycopg.connect(self.db) as conn:
            cur = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {where.replace('?', '%s')}", params
            )
            return int(cur.fetchone()[0])  # type: ignore[index]


def _json(body: Any) -> bytes:
    import orjson

    return orjson.dumps(body)


@contextlib.contextmanager
def start_central(
    db: str, backend: str, workdir: Path, *extra: str, cli: list[str] = CLI
) -> Iterator[Central]:
    """A central subprocess; `cli` is the command before its options (tests may run a
    variant, e.g. tests/notify/fast_refresh.py)."""
    port = free_port()
    argv = [*cli, "--db", db, "--listen", f"127.0.0.1:{port}", "--log-format", "text", *extra]
    server = Server(argv, port, workdir, workdir / "central.log")
    server.start()
    central = Central(server, db, backend)
    try:
        yield central
    finally:
        central.client.close()
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def central(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[Central]:
    """One central per backend per test module; tests use their own gateway names."""
    workdir = tmp_path_factory.mktemp(f"central-{request.param}")
    with (
        fresh_db(request.param, workdir, postgres_url) as db,
        start_central(db, request.param, workdir, "--offline-after", "1s") as server,
    ):
        yield server


def gateway_name() -> str:
    return "gw-" + secrets.token_hex(4)


def reading(
    gateway: str, seq: int, sensor: str, value: Any, at: float | None = None, **data: Any
) -> dict[str, Any]:
    at = time.time() if at is None else at
    payload = {
        "value": value,
        "unit": "degC",
        "quantity": "temperature",
        "received": ev.format_time(at),
        **data,
    }
    return ev.edge_event(gateway, seq, ev.READING, time=at, subject=sensor, data=payload).to_dict()


def event(
    gateway: str,
    seq: int,
    type_: str,
    subject: str | None = None,
    at: float | None = None,
    **data: Any,
) -> dict[str, Any]:
    at = time.time() if at is None else at
    return ev.edge_event(gateway, seq, type_, time=at, subject=subject, data=data).to_dict()
