"""`central backup`: a consistent copy of central's database while it runs and ingests.

SQLite goes through the online backup API (a reader in WAL mode: ingest goes on, and the
copy is one transaction's snapshot, never a torn file); PostgreSQL through `pg_dump` in its
custom format. The copy is written beside its final name and renamed when complete, so a
failed backup never leaves a file that looks whole. A `FILE.sha256` goes beside it and the
audit trail records who made which backup with which hash.
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
from central.records.database import Database, RecordsError, audit, connection, has_tables

SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".pgdump"


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    sha256: str
    size: int
    seconds: float
    rotated: tuple[Path, ...] = ()


def target_path(db: Database, to: Path, now: float) -> Path:
    """`to` itself, or a time-stamped name inside `to` when it is a directory."""
    if to.is_dir():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        suffix = SQLITE_SUFFIX if db.is_sqlite else POSTGRES_SUFFIX
        return to / f"central-{stamp}{suffix}"
    return to


def backup(db: Database, to: Path, *, actor: str, keep: int | None = None) -> Backup:
    """Write the backup, its .sha256 and an audit row; rotate when `keep` is given."""
    started = time.monotonic()
    path = target_path(db, to, time.time())
    if keep is not None and not to.is_dir():
        raise RecordsError(f"--keep needs --to to be a directory ({to} is not one)")
    if path.exists():
        raise RecordsError(f"{path}: exists already; choose another name or a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        if db.is_sqlite:
            _sqlite(db, partial)
        else:
            _postgres(db, partial)
        _fsync(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    os.chmod(path, 0o600)  # the copy holds what the database holds: token digests, users
    digest = checksum.write_sidecar(path)
    size = path.stat().st_size
    audit(db, actor, "backup.create", path.name, {"sha256": digest, "bytes": size})
    rotated: tuple[Path, ...] = ()
    if keep is not None:
        suffix = SQLITE_SUFFIX if db.is_sqlite else POSTGRES_SUFFIX
        rotated = tuple(checksum.rotate(to, f"central-*{suffix}", keep))
    return Backup(path, digest, size, time.monotonic() - started, rotated)


def _sqlite(db: Database, out: Path) -> None:
    with connection(db, readonly=True) as (source, dialect):
        if not has_tables(source, dialect):
            raise RecordsError(f"{db.url}: holds no central database")
        target = sqlite3.connect(out)
        try:
            # pages=-1: one step, one read transaction: a snapshot ingest does not block.
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            result = target.execute("PRAGMA quick_check").fetchone()
            if result is None or result[0] != "ok":
                raise RecordsError(f"the copy failed its integrity check: {result}")
        except sqlite3.Error as exc:
            raise RecordsError(f"SQLite backup failed: {exc}") from None
        finally:
            target.close()


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RecordsError(
            f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client, "
            "the server's major version or newer) and try again"
        )
    return path


def _postgres(db: Database, out: Path) -> None:
    pg_dump = pg_tool("pg_dump")
    with connection(db, readonly=True) as (conn, dialect):
        if not has_tables(conn, dialect):
            raise RecordsError("the database holds no central schema")
    command = [pg_dump, "--format=custom", "--no-owner", f"--file={out}"]
    if db.schema is not None:
        command.append(f"--schema={db.schema}")
    command.append(f"--dbname={db.libpq_url}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RecordsError(f"pg_dump failed ({done.returncode}): {done.stderr.strip()}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
