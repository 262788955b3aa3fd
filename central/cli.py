"""`tracseq-edge central ...`: run the service, or create gateway tokens and API keys.

    tracseq-edge central [--db URL] [--listen HOST:PORT] [--offline-after 5m] [--retention 400d]
                         [--sse-keepalive 15s] [--audit-key FILE] [--audit-checkpoint-every 10m]
                         [--header-timeout 10s] [--max-connections 1000]
                         [--forwarded-allow-ips IPS] [--tls-cert FILE --tls-key FILE]
    tracseq-edge central token create GATEWAY [--analytics] [--db URL]
    tracseq-edge central apikey create NAME --role viewer|operator|admin [--db URL]
    tracseq-edge central token|apikey list [--db URL]
    tracseq-edge central token revoke ID | apikey revoke NAME [--db URL]
    tracseq-edge central user create NAME --role ROLE --password-file FILE [--email E] [--phone P]
    tracseq-edge central sensor move SENSOR --to GATEWAY [--db URL]
    tracseq-edge central [--notifications FILE] [--heartbeat-url URL]  (notifications, SIGHUP)
    tracseq-edge central notifications check FILE
    tracseq-edge central backup|restore|verify|archive|unarchive ...   (central/records/cli.py)

Exit codes: 0 ok, 2 bad arguments (a clear message, no traceback), 1 runtime failure.
A secret is printed once, as the last word of the output; only its digest is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.auth import API_KEY_PREFIX, TOKEN_PREFIX, digest, gateway_source, new_secret
from central.cli_parsers import secret_parser, serve_parser
from central.settings import DEFAULT_LISTEN, Settings
from central.signing import load_key
from central.storage import StorageError, check_url, open_storage
from runtime import tracing
from runtime.durations import parse_duration, parse_size
from runtime.errors import ConfigError
from runtime.http_limits import limits
from runtime.logging_setup import setup_logging

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

log = logging.getLogger("tracseq.central")


def main(argv: Sequence[str]) -> int:
    args_list = list(argv)
    if args_list[:1] and args_list[0] in ("backup", "restore", "verify", "archive", "unarchive"):
        from central.records import cli as records_cli

        return records_cli.main(args_list[0], args_list[1:])
    if args_list[:1] == ["user"]:
        from central import user_cli

        return user_cli.main(args_list[1:])
    if args_list[:1] == ["sensor"]:
        from central import sensor_cli

        return sensor_cli.main(args_list[1:])
    if args_list[:1] == ["notifications"]:
        from central.notify import check

        return check.main(args_list[1:])
    if args_list[:1] in (["token"], ["apikey"]):
        kind = args_list[0]
        if args_list[1:2] in (["list"], ["revoke"]):
            from central import secrets_cli

            return secrets_cli.main(kind, args_list[1:])
        if args_list[1:2] != ["create"]:
            print(
                f"tracseq-edge central {kind}: error: use `{kind} create ...`, `{kind} list` "
                f"or `{kind} revoke {'ID' if kind == 'token' else 'NAME'}`",
                file=sys.stderr,
            )
            return EXIT_USAGE
        args = secret_parser(kind).parse_args(args_list[2:])
        setup_logging(args.log_format, "WARNING")
        return _create_secret(kind, args)
    args = serve_parser().parse_args(args_list)
    try:
        settings = _settings(args)
        check_url(settings.db_url)
    except (ValueError, StorageError) as exc:
        print(f"tracseq-edge central: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.notifications is not None:
        from central.notify.config import load_notifications
        from runtime.errors import ConfigError

        try:
            load_notifications(settings.notifications)
        except ConfigError as exc:
            print(f"tracseq-edge central: invalid notifications file:\n{exc}", file=sys.stderr)
            return EXIT_USAGE
    setup_logging(args.log_format)
    return _serve(settings, args.log_format)


def _settings(args: argparse.Namespace) -> Settings:
    host, sep, port = args.listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: {args.listen!r} is not HOST:PORT (e.g. {DEFAULT_LISTEN})")
    try:
        offline_after = parse_duration(args.offline_after)
    except ValueError as exc:
        raise ValueError(f"--offline-after: {exc}") from None
    try:
        max_body = parse_size(args.max_body)
    except ValueError as exc:
        raise ValueError(f"--max-body: {exc}") from None
    if offline_after <= 0:
        raise ValueError("--offline-after: must be more than 0 (e.g. 5m)")
    if max_body < 1024:
        raise ValueError("--max-body: must be at least 1KiB")
    if args.max_inflight < 1:
        raise ValueError("--max-inflight: must be at least 1")
    try:
        sse_keepalive = parse_duration(args.sse_keepalive)
    except ValueError as exc:
        raise ValueError(f"--sse-keepalive: {exc}") from None
    if not 0.1 <= sse_keepalive <= 3600:
        raise ValueError("--sse-keepalive: must be between 100ms and 1h (e.g. 15s)")
    retention = _retention(args.retention, args.db)
    try:
        checkpoint_every = parse_duration(args.audit_checkpoint_every)
    except ValueError as exc:
        raise ValueError(f"--audit-checkpoint-every: {exc}") from None
    if checkpoint_every < 0.1:
        raise ValueError("--audit-checkpoint-every: must be at least 100ms (e.g. 10m)")
    try:
        header_timeout = parse_duration(args.header_timeout)
    except ValueError as exc:
        raise ValueError(f"--header-timeout: {exc}") from None
    if not 0.1 <= header_timeout <= 3600:
        raise ValueError("--header-timeout: must be between 100ms and 1h (e.g. 10s)")
    if args.max_connections < 1:
        raise ValueError("--max-connections: must be at least 1")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{flag}: {path}: no such file")
    if args.audit_key is not None:
        try:
            load_key(Path(args.audit_key))
        except ConfigError as exc:
            raise ValueError(f"--audit-key: {exc}") from None
    heartbeat = args.heartbeat_url
    if heartbeat is not None and not heartbeat.startswith(("http://", "https://")):
        raise ValueError(f"--heartbeat-url: {heartbeat!r} is not an http(s) URL")
    return Settings(
        db_url=args.db,
        host=host.strip("[]"),
        port=int(port),
        offline_after=offline_after,
        max_body=max_body,
        max_inflight=args.max_inflight,
        retention=retention,
        sse_keepalive=sse_keepalive,
        audit_key=args.audit_key,
        audit_checkpoint_every=checkpoint_every,
        header_timeout=header_timeout,
        max_connections=args.max_connections,
        forwarded_allow_ips=args.forwarded_allow_ips.strip(),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        require_signatures=args.require_signatures,
        notifications=Path(args.notifications) if args.notifications else None,
        heartbeat_url=heartbeat,
    )


def _retention(text: str | None, db: str) -> float | None:
    if text is None:
        return None
    try:
        retention = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"--retention: {exc}") from None
    if retention < 86_400:
        raise ValueError("--retention: must be at least 1d (readings are kept per day)")
    if not db.startswith(("postgresql://", "postgres://")):
        raise ValueError("--retention: needs --db postgresql://... (partitioned readings)")
    return retention


def _serve(settings: Settings, log_format: str | None) -> int:
    import uvicorn

    from central.app import create_app

    tracing.configure("tracseq-central")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our logging setup stays in charge
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # X-Forwarded-For/-Proto only from the proxies named (uvicorn's default trusts
        # any loopback peer: a spoofed address would dodge the per-address sign-in limit).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        **limits(settings.header_timeout, settings.max_connections),
    )
    server = uvicorn.Server(config)
    log.info(
        "central listening on %s://%s:%d (database %s)",
        "https" if settings.tls_cert else "http",
        settings.host,
        settings.port,
        settings.db_url.split("@")[-1],
    )
    try:
        asyncio.run(_run(server))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        tracing.shutdown()
    return EXIT_OK if server.started else EXIT_RUNTIME


async def _run(server: Any) -> None:
    from central.systemd import supervise

    async with asyncio.TaskGroup() as group:
        group.create_task(server.serve())
        group.create_task(supervise(server))


def _create_secret(kind: str, args: argparse.Namespace) -> int:
    if not _NAME.fullmatch(args.name):
        print(
            f"tracseq-edge central {kind} create: error: invalid name {args.name!r} "
            "(letters, digits, '.', '_', '-'; at most 128)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        storage = open_storage(args.db, time.time)
    except StorageError as exc:
        print(f"tracseq-edge central: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_store_secret(storage, kind, args))
    except StorageError as exc:
        print(f"tracseq-edge central {kind} create: database error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


async def _store_secret(storage: object, kind: str, args: argparse.Namespace) -> int:
    from central.storage import SqlStorage
    from central.user_cli import os_user

    assert isinstance(storage, SqlStorage)
    actor = f"cli:{os_user()}"  # who ran it, in the audit trail
    try:
        if kind == "token":
            secret = new_secret(TOKEN_PREFIX)
            source = gateway_source(args.name, analytics=args.analytics)
            await storage.add_token(digest(secret), source, actor)
            print(
                f"gateway token for {source} (shown once, store it in the gateway's "
                f"sync.token_file): {secret}"
            )
            return EXIT_OK
        secret = new_secret(API_KEY_PREFIX)
        if not await storage.add_api_key(digest(secret), args.name, args.role, actor):
            print(
                f"tracseq-edge central apikey create: error: an API key named {args.name!r} "
                "exists already",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(f"API key {args.name!r} (role {args.role}, shown once): {secret}")
        return EXIT_OK
    finally:
        await storage.close()
