"""The argument parsers of `tracseq-edge central` (serve, token/apikey create).

Each option also reads a `TRACSEQ_*` environment variable (runtime.cli_args).
"""

from __future__ import annotations

import argparse

from central.auth import ROLES
from central.settings import DEFAULT_LISTEN
from central.storage import DEFAULT_URL
from runtime.cli_args import ArgumentParser
from runtime.http_limits import MAX_CONNECTIONS


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=DEFAULT_URL,
        help=f"database URL: sqlite:///path or postgresql://... (default {DEFAULT_URL})",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default=None)


def serve_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="tracseq-edge central", description="central storage service")
    common(parser)
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN})"
    )
    parser.add_argument(
        "--offline-after",
        default="5m",
        help="raise gateway_offline after this much silence (default 5m)",
    )
    parser.add_argument(
        "--retention",
        default=None,
        help="drop readings older than this, whole daily partitions (PostgreSQL; default: keep)",
    )
    parser.add_argument(
        "--max-body", default="8MiB", help="ingest body limit, before and after gzip (default 8MiB)"
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=64,
        help="concurrent ingest requests before answering 503 (default 64)",
    )
    parser.add_argument(
        "--sse-keepalive",
        default="15s",
        help="keepalive event on an idle live stream this often; the dashboard calls a stream "
        "silent for 2.5 times this dead and reconnects (default 15s)",
    )
    parser.add_argument(
        "--audit-key",
        default=None,
        metavar="FILE",
        help="key file (at least 16 bytes, kept outside the database) that signs audit "
        "checkpoints; verification then reports a trail that shrank or was re-chained",
    )
    parser.add_argument(
        "--audit-checkpoint-every",
        default="10m",
        help="verify the audit trail and sign a checkpoint this often (default 10m)",
    )
    parser.add_argument(
        "--header-timeout",
        default="10s",
        help="close a connection whose request headers are not complete this long after it "
        "went idle (default 10s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help=f"open connections before new requests get 503 (default {MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default="",
        metavar="IPS",
        help="comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto are "
        "believed (default: none; the peer's own address is the client's)",
    )
    parser.add_argument("--tls-cert", default=None, metavar="FILE", help="serve https: PEM chain")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help="its private key (PEM)")
    parser.add_argument(
        "--require-signatures",
        action="store_true",
        help="every acknowledgement and role change must be electronically signed "
        "(21 CFR Part 11): the plain ack API answers 403",
    )
    parser.add_argument(
        "--notifications",
        default=None,
        metavar="FILE",
        help="notifications file: channels, groups, schedules, policies (reloaded on SIGHUP)",
    )
    parser.add_argument(
        "--heartbeat-url",
        default=None,
        metavar="URL",
        help="GET this URL every minute while central is healthy (a dead man's switch)",
    )
    parser.epilog = (
        "other commands: `token create GATEWAY`, `apikey create NAME --role ROLE`, "
        "`token list`, `token revoke ID`, `apikey list`, `apikey revoke NAME`, "
        "`user create NAME --role ROLE --password-file FILE`, `sensor move SENSOR --to GATEWAY`, "
        "`notifications check FILE`, "
        "`backup`, `restore`, `verify`, `archive`, `unarchive` (records protection)"
    )
    return parser


def secret_parser(kind: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=f"tracseq-edge central {kind} create")
    common(parser)
    if kind == "token":
        parser.add_argument("name", metavar="GATEWAY", help="the gateway id (as in sensors.yaml)")
        parser.add_argument(
            "--analytics",
            action="store_true",
            help="a token for an analytics instance (source tracseq-analytics/NAME)",
        )
    else:
        parser.add_argument("name", metavar="NAME", help="a name for the key (who or what uses it)")
        parser.add_argument("--role", choices=ROLES, required=True)
    return parser
