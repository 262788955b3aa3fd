"""`tracseq-edge central sensor move SENSOR --to GATEWAY [--db URL]`: the audited move.

A sensor belongs to the gateway that first wrote it; another gateway's token cannot
change it (ingest answers 400). When a sensor is really rewired to another gateway, an
admin moves it here: the owner changes and `sensor.move` (old and new gateway, actor
`cli:<OS user>`) is written to the audit trail in the same transaction. Exit 0 moved,
2 bad arguments or an unknown sensor, 1 the database failed.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Sequence

from central.storage import DEFAULT_URL, SqlStorage, StorageError, open_storage
from central.storage.ownership import Move
from central.user_cli import os_user
from runtime.cli_args import ArgumentParser

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
_GATEWAY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PROG = "tracseq-edge central sensor move"


def main(argv: Sequence[str]) -> int:
    """`argv` starts after `sensor`."""
    if list(argv[:1]) != ["move"]:
        print(
            "tracseq-edge central sensor: error: use `sensor move SENSOR --to GATEWAY`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    parser = ArgumentParser(prog=PROG)
    parser.add_argument("sensor", metavar="SENSOR")
    parser.add_argument("--to", required=True, metavar="GATEWAY", help="the new gateway id")
    parser.add_argument("--db", default=DEFAULT_URL)
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    args = parser.parse_args(list(argv[1:]))
    if not _GATEWAY.fullmatch(args.to):
        print(f"{PROG}: error: --to: invalid gateway id {args.to!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        storage = open_storage(args.db, time.time)
    except StorageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        moved = asyncio.run(_move(storage, args.sensor, args.to))
    except StorageError as exc:  # any database failure: exit 1 with its message
        print(f"{PROG}: database error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if not moved.found:
        print(f"{PROG}: error: no sensor {args.sensor!r}", file=sys.stderr)
        return EXIT_USAGE
    print(f"sensor {args.sensor!r} moved from gateway {moved.before!r} to {args.to!r}")
    return EXIT_OK


async def _move(storage: SqlStorage, sensor: str, gateway: str) -> Move:
    try:
        return await storage.move_sensor(sensor, gateway, f"cli:{os_user()}")
    finally:
        await storage.close()
