"""The real central service (`tracseq-edge central`) as a subprocess, on a fresh database."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.servers import Server, free_port

CLI = [sys.executable, "-m", "edge"]


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path, postgres: str, name: str) -> Iterator[str]:
    """A database URL nobody used before: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / (name + '.db')}"
        return
    import psycopg

    database = f"tracseq_{name}_{os.getpid()}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield urlunsplit(urlsplit(postgres)._replace(path="/" + database))
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class Central:
    server: Server
    db: str
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read central's database directly (what is really stored)."""
        if self.db.startswith("sqlite:///"):
            with contextlib.closing(sqlite3.connect(self.db.removeprefix("sqlite:///"))) as conn:
                return conn.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.db) as conn:
            return conn.execute(sql).fetchall()


def create_token(db: str, gateway: str) -> str:
    made = subprocess.run(
        [*CLI, "central", "token", "create", gateway, "--db", db],
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.split()[-1]


@contextlib.contextmanager
def central(db: str, workdir: Path, gateway: str) -> Iterator[Central]:
    """Central on a free loopback port with a token for `gateway`."""
    token = create_token(db, gateway)
    port = free_port()
    argv = [*CLI, "central", "--db", db, "--listen", f"127.0.0.1:{port}", "--log-format", "text"]
    server = Server(argv, port, workdir, workdir / "central.log")
    server.start()
    try:
        yield Central(server, db, token)
    finally:
        server.stop()
