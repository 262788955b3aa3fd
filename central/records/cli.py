"""`tracseq-edge central backup|restore|verify|archive|unarchive`.

    tracseq-edge central backup --db URL --to FILE|DIR [--keep N]
    tracseq-edge central restore --from FILE --db URL [--force]
    tracseq-edge central verify --db URL [--json]
    tracseq-edge central archive --db URL --before YYYY-MM-DD --to DIR --audit-key FILE
    tracseq-edge central unarchive --from DIR --db URL --audit-key FILE

Exit codes: 0 done (verify: intact), 1 failed (verify: what is wrong), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from central import signing
from central.records.archive import archive, parse_day, unarchive
from central.records.backup import backup
from central.records.database import RecordsError, parse_db
from central.records.restore import restore
from central.records.verify import verify
from central.storage import DEFAULT_URL, StorageError
from runtime.cli_args import ArgumentParser
from runtime.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("backup", "restore", "verify", "archive", "unarchive")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=f"tracseq-edge central {command}", description=__doc__)
    parser.add_argument("--db", default=DEFAULT_URL, help=f"database URL (default {DEFAULT_URL})")
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    if command == "backup":
        parser.add_argument("--to", required=True, type=Path, help="backup file, or a directory")
        parser.add_argument(
            "--keep", type=int, default=None, help="with a directory: keep the newest N backups"
        )
    elif command == "restore":
        parser.add_argument("--from", dest="source", required=True, type=Path)
        parser.add_argument(
            "--force", action="store_true", help="replace a database that is not empty"
        )
    elif command == "verify":
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    elif command == "archive":
        parser.add_argument("--before", required=True, help="archive what is older (YYYY-MM-DD)")
        parser.add_argument("--to", required=True, type=Path, help="an empty directory")
        parser.add_argument("--audit-key", required=True, type=Path, help="key file to sign with")
    else:
        parser.add_argument("--from", dest="source", required=True, type=Path)
        parser.add_argument("--audit-key", required=True, type=Path, help="the archive's key")
    return parser


def main(command: str, argv: Sequence[str]) -> int:
    from central.user_cli import os_user

    args = _parser(command).parse_args(list(argv))
    prog = f"tracseq-edge central {command}"
    actor = f"cli:{os_user()}"
    try:
        db = parse_db(args.db)
        if command == "backup" and args.keep is not None and args.keep < 1:
            raise ValueError("--keep: must be at least 1")
        if command == "archive":
            parse_day(args.before)
        key = signing.load_key(args.audit_key) if command in ("archive", "unarchive") else b""
    except (ValueError, StorageError, ConfigError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(command, args, db, key, actor)
    except RecordsError as exc:
        print(f"{prog}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(command: str, args: argparse.Namespace, db: object, key: bytes, actor: str) -> int:
    from central.records.database import Database

    assert isinstance(db, Database)
    if command == "backup":
        done = backup(db, args.to, actor=actor, keep=args.keep)
        print(f"backup {done.path} ({done.size} bytes, {done.seconds:.1f} s) sha256 {done.sha256}")
        for old in done.rotated:
            print(f"removed {old} (--keep {args.keep})")
    elif command == "restore":
        restored = restore(db, args.source, actor=actor, force=args.force)
        print(f"restored {args.source} (sha256 {restored.sha256}, {restored.seconds:.1f} s)")
    elif command == "verify":
        report = verify(db)
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            for name, state in report.checks.items():
                print(f"{name}: {state}")
            print("rows: " + ", ".join(f"{t} {n}" for t, n in report.counts.items()))
            for problem in report.problems:
                print(f"PROBLEM {problem}")
            print("intact" if report.ok else "NOT intact")
        return EXIT_OK if report.ok else EXIT_FAILED
    elif command == "archive":
        archived = archive(db, args.before, args.to, key, actor=actor)
        rows = ", ".join(f"{t} {n}" for t, n in archived.rows.items())
        print(f"archived before {args.before} into {args.to}: {archived.files} files ({rows})")
    else:
        loaded = unarchive(db, args.source, key, actor=actor)
        print("loaded " + ", ".join(f"{t} {n}" for t, n in loaded.items()))
    return EXIT_OK
