"""`gateway:`, `redis:` and `sync:`: the daemon's own settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
)

from edgeconfig.base import NAME_PATTERN, Duration, Model, Size, read_secret
from runtime.durations import parse_duration, parse_size

# --- gateway -------------------------------------------------------------------------


class Buffer(Model):
    max_bytes: Size = parse_size("2GiB")
    keep_delivered: Duration = parse_duration("7d")
    # Commits (disk syncs) start at most once per window: <= 40 commits/s at the default,
    # <= 50 syncs/s with the WAL checkpoints. An idle gateway still commits a lone reading
    # at once (docs/buffer.md).
    commit_window: Duration = Field(default=parse_duration("25ms"), ge=0.0, le=1.0)


class Listen(Model):
    host: str
    port: int


def _parse_listen(value: Any) -> Any:
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid listen address {value!r} (use e.g. 127.0.0.1:8087)")
        return {"host": host.strip("[]") or "127.0.0.1", "port": int(port)}
    return value


ListenAddress = Annotated[Listen, BeforeValidator(_parse_listen)]


class Gateway(Model):
    id: str = Field(pattern=NAME_PATTERN, max_length=64)
    site: str = ""
    heartbeat: Duration = 60.0
    data_dir: Path = Path("./var")
    listen: ListenAddress = Listen(host="127.0.0.1", port=8087)
    intake_token_file: Path | None = None
    buffer: Buffer = Buffer()


# --- upstreams -----------------------------------------------------------------------


class Redis(Model):
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = "tracseq:events"
    maxlen: int = Field(default=1_000_000, ge=1000)
    batch_max: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"invalid Redis URL {value!r} (use redis://host:6379/0)")
        return value


class Sync(Model):
    url: str
    token_file: Path | None = None
    ca_file: Path | None = None
    batch_max: int = Field(default=5000, ge=1, le=100_000)
    interval: Duration = 1.0
    timeout: Duration = 30.0

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"invalid central URL {value!r} (use http(s)://host:8095)")
        return value.rstrip("/")

    def token(self) -> str | None:
        """The bearer token: TRACSEQ_SYNC_TOKEN, else the token file; None when neither."""
        env = os.environ.get("TRACSEQ_SYNC_TOKEN")
        if env:
            return env.strip()
        return read_secret(self.token_file)
