"""The central service's settings, parsed once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from central.storage import DEFAULT_URL
from central.stream import HEARTBEAT_SECONDS

DEFAULT_LISTEN = "127.0.0.1:8095"


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = 8095
    offline_after: float = 300.0  # seconds of silence before `gateway_offline`
    max_body: int = 8 * 1024 * 1024  # bytes, before and after decompression
    max_inflight: int = 64  # concurrent ingest requests before shedding with 503
    stream_buffer: int = 10_000  # live events kept for Last-Event-ID resume
    sse_keepalive: float = HEARTBEAT_SECONDS  # seconds between keepalives on an idle stream
    retention: float | None = None  # seconds of readings kept (None: all)
    require_signatures: bool = False  # plain acks and unsigned role changes refused
    notifications: Path | None = None  # the notifications file (central/notify/config.py)
    heartbeat_url: str | None = None  # called every heartbeat_interval while healthy
    heartbeat_interval: float = 60.0
    notify_poll: float = 0.25  # seconds between the sender's rounds when idle
