"""`tracseq-edge central token|apikey list|revoke`: housekeeping of gateway tokens and API keys.

    tracseq-edge central token list [--db URL]
    tracseq-edge central token revoke ID [--db URL]       # ID: from `token list` (hex)
    tracseq-edge central apikey list [--db URL]
    tracseq-edge central apikey revoke NAME [--db URL]

`list` shows every secret, revoked ones too, never the secret or its digest: a token by its
ID (the first 12 hex digits of its SHA-256 digest, the `digest_prefix` of its audit rows)
and source, an API key by name and role. `revoke` marks one revoked (the row stays, so the
history does) and appends `token.revoke` / `apikey.revoke` to the audit trail as
`cli:<OS user>`. A running central refuses it at once where it was not used in the last
30 s, else within 30 s (its credential cache, central/auth.py). A revoked key's name stays
taken. Exit 0 done (also when it was revoked already), 2 unknown or ambiguous ID/name or
bad arguments, 1 the database failed.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from central.auth import CACHE_SECONDS
from central.storage import DEFAULT_URL, SqlStorage, StorageError, open_storage
from central.storage.records import Revocation
from central.user_cli import os_user
from runtime.cli_args import ArgumentParser
from runtime.events import format_time

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
MIN_ID = 8  # hex digits: enough to be unique among any realistic number of tokens
_HEX = re.compile(r"^[0-9a-f]+$")


def main(kind: str, argv: Sequence[str]) -> int:
    """`kind` is `token` or `apikey`; `argv` starts with `list` or `revoke`."""
    action = argv[0]
    prog = f"tracseq-edge central {kind} {action}"
    parser = ArgumentParser(prog=prog)
    if action == "revoke":
        what = "ID" if kind == "token" else "NAME"
        hint = "the token's ID from `token list`" if kind == "token" else "the key's name"
        parser.add_argument("target", metavar=what, help=hint)
    parser.add_argument("--db", default=DEFAULT_URL, help=f"database URL (default {DEFAULT_URL})")
    args = parser.parse_args(list(argv[1:]))
    target = getattr(args, "target", "")
    if kind == "token" and action == "revoke":
        target = target.lower()
        if len(target) < MIN_ID or not _HEX.fullmatch(target):
            return _usage(prog, f"ID: {args.target!r} is not a token ID (hex, {MIN_ID}+ digits)")
    try:
        storage = open_storage(args.db, time.time)
    except StorageError as exc:
        return _usage(prog, str(exc))
    try:
        return asyncio.run(_run(storage, prog, kind, action, target))
    except StorageError as exc:
        print(f"{prog}: database error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


async def _run(storage: SqlStorage, prog: str, kind: str, action: str, target: str) -> int:
    try:
        if action == "list":
            rows = await (storage.tokens() if kind == "token" else storage.api_keys())
            _print_table(kind, rows)
            return EXIT_OK
        actor = f"cli:{os_user()}"
        if kind == "token":
            done = await storage.revoke_token(target, actor)
        else:
            done = await storage.revoke_api_key(target, actor)
        return _report(prog, kind, target, done)
    finally:
        await storage.close()


def _report(prog: str, kind: str, target: str, done: Revocation) -> int:
    noun = "token" if kind == "token" else "API key"
    if done.matches == 0:
        listing = f"`tracseq-edge central {kind} list`"
        return _usage(prog, f"no {noun} {target!r} (see {listing})")
    if done.matches > 1:
        return _usage(prog, f"{target!r} matches {done.matches} tokens: give more digits")
    when = format_time(done.revoked_at) if done.revoked_at is not None else "?"
    label = f"{noun} {target!r}" + (f" ({done.target})" if kind == "token" else "")
    if done.already:
        print(f"{label} was revoked already at {when}")
        return EXIT_OK
    print(
        f"{label} revoked at {when}; a running central refuses it within "
        f"{CACHE_SECONDS:.0f} s (its credential cache)"
    )
    return EXIT_OK


def _print_table(kind: str, rows: list[dict[str, Any]]) -> None:
    columns = ("id", "source") if kind == "token" else ("name", "role")
    header = [c.upper() for c in columns] + ["CREATED", "REVOKED"]
    lines = [header]
    for row in rows:
        created, revoked = row["created"], row["revoked"]
        lines.append(
            [
                *(str(row[c]) for c in columns),
                format_time(created) if created is not None else "-",
                format_time(revoked) if revoked is not None else "-",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def _usage(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE
