"""The central service's settings, parsed once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from central.notify.refresh import INTERVAL as REFRESH
from central.storage import DEFAULT_URL
from central.stream import HEARTBEAT_SECONDS
from runtime.http_limits import HEADER_TIMEOUT, MAX_CONNECTIONS

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
    audit_key: str | None = None  # file of the key that signs audit checkpoints (None: none)
    audit_checkpoint_every: float = 600.0  # seconds between audit checkpoints
    header_timeout: float = HEADER_TIMEOUT  # seconds for a request's headers (idle conns)
    max_connections: int = MAX_CONNECTIONS  # open connections before answering 503
    forwarded_allow_ips: str = ""  # proxies whose X-Forwarded-For/-Proto count ("": none)
    tls_cert: str | None = None  # serve https with this certificate (PEM) ...
    tls_key: str | None = None  # ... and key
    require_signatures: bool = False  # plain acks and unsigned role changes refused
    notifications: Path | None = None  # the notifications file (central/notify/config.py)
    heartbeat_url: str | None = None  # called every heartbeat_interval while healthy
    heartbeat_interval: float = 60.0
    notify_poll: float = 0.25  # seconds between the sender's rounds when idle
    notify_refresh: float = REFRESH  # seconds between re-posts of active Alertmanager alerts
