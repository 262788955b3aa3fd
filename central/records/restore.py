"""`central restore`: a backup back into an empty database, its SHA-256 checked first.

SQLite: the file is copied beside the target and renamed over it once its integrity check
passes. PostgreSQL: `pg_restore` into the database of `--db` (the schema the backup was
made from is created again). A database that already holds central's tables is refused
unless `--force` (SQLite: replaced; PostgreSQL: `pg_restore --clean`). Gateways that sync
after a restore resend what the backup lacks; what it has already is a duplicate by event
id, stored once.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from central.records import checksum
from central.records.backup import pg_tool
from central.records.database import Database, RecordsError, audit, connection, has_tables


@dataclass(frozen=True, slots=True)
class Restored:
    sha256: str
    seconds: float


def restore(db: Database, source: Path, *, actor: str, force: bool = False) -> Restored:
    started = time.monotonic()
    digest = checksum.check(source)
    if db.is_sqlite:
        _sqlite(db, source, force)
    else:
        _postgres(db, source, force)
    audit(db, actor, "backup.restore", source.name, {"sha256": digest})
    return Restored(digest, time.monotonic() - started)


def _not_empty(db: Database) -> bool:
    if db.is_sqlite:
        from central.storage.sqlite import path_of

        if not path_of(db.url).exists():
            return False
    with connection(db) as (conn, dialect):
        return has_tables(conn, dialect)


def _sqlite(db: Database, source: Path, force: bool) -> None:
    from central.storage.sqlite import path_of

    target = path_of(db.url)
    if _not_empty(db) and not force:
        raise RecordsError(
            f"{target} holds a central database already; restore into an empty one, "
            "or add --force to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    try:
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o600)
        conn = sqlite3.connect(partial)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise RecordsError(f"{source}: not a SQLite database ({exc})") from None
        finally:
            conn.close()
        if result is None or result[0] != "ok":
            raise RecordsError(f"{source}: fails SQLite's integrity check: {result}")
        for leftover in ("-wal", "-shm"):
            target.with_name(target.name + leftover).unlink(missing_ok=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _postgres(db: Database, source: Path, force: bool) -> None:
    if _not_empty(db) and not force:
        raise RecordsError(
            "the database holds central's tables already; restore into an empty database, "
            "or add --force to replace them"
        )
    command = [pg_tool("pg_restore"), "--no-owner", "--exit-on-error"]
    if force:
        command += ["--clean", "--if-exists"]
    command += [f"--dbname={db.libpq_url}", str(source)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RecordsError(f"pg_restore failed ({done.returncode}): {done.stderr.strip()}")
