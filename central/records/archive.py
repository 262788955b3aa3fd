"""`central archive`: readings, events, alarms and acknowledgements before a date, kept
outside the database before `--retention` drops them; `central unarchive` reads them back.

Layout of an archive directory:

    manifest.json          {"format", "before", "created", "database", "files": [{"name",
                            "table", "day", "rows", "sha256"}]}
    manifest.json.sig      hmac-sha256 of manifest.json with the audit key (central/signing.py)
    readings/2026-11-24.csv.gz, events/..., alarms/..., alarm_acks/...   one file per UTC day
    sensors/snapshot.csv.gz   the digital twin (units, limits) as it was when archiving

CSV cells are the stored values; `\\N` is NULL (as in PostgreSQL's COPY). Rows are read
with a cursor in time order, one day's file open at a time, so memory stays flat however
large the period. Reading back checks the signature and every file's hash and row count
before one row is written, then inserts with ON CONFLICT DO NOTHING: an archive loads into
an empty scratch database for a report, or into the live one, without duplicates.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from central import signing
from central.records import checksum
from central.records.database import Database, RecordsError, audit, connection, has_tables
from central.storage import rollups
from central.storage.dialect import Dialect

FORMAT = "tracseq-archive/1"
NULL = "\\N"
# table -> the time column that puts a row into a day
TABLES: dict[str, str] = {
    "readings": "time",
    "events": "time",
    "alarms": "raised_at",
    "alarm_acks": "at",
}
# Whole tables as they are when archiving: a report over the archive needs the twin's unit
# and limits.
SNAPSHOTS = ("sensors",)
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"


@dataclass(frozen=True, slots=True)
class Archived:
    files: int
    rows: dict[str, int]


def parse_day(text: str) -> float:
    """`YYYY-MM-DD` as epoch seconds of that day's UTC midnight."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def archive(db: Database, before: str, to: Path, key: bytes, *, actor: str) -> Archived:
    cutoff = parse_day(before)
    if (to / MANIFEST).exists():
        raise RecordsError(f"{to} holds an archive already; choose an empty directory")
    to.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    with connection(db, readonly=True) as (conn, dialect):
        if not has_tables(conn, dialect):
            raise RecordsError("the database holds no central schema")
        for table in SNAPSHOTS:
            files.append(_snapshot(conn, dialect, table, to))
        for table, column in TABLES.items():
            files += _archive_table(conn, dialect, table, column, cutoff, to)
    manifest = {
        "format": FORMAT,
        "before": before,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": db.url.split("@")[-1],
        "files": files,
    }
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    (to / MANIFEST).write_bytes(body)
    (to / SIGNATURE).write_text(signing.sign(key, body) + "\n")
    rows = {table: sum(f["rows"] for f in files if f["table"] == table) for table in TABLES}
    audit(
        db,
        actor,
        "archive.create",
        str(to.name),
        {"before": before, "rows": rows, "manifest_sha256": checksum.sha256_of(to / MANIFEST)},
    )
    return Archived(len(files), rows)


def _archive_table(
    conn: Any, dialect: Dialect, table: str, column: str, cutoff: float, to: Path
) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    with _rows(conn, dialect, table, column, cutoff) as (columns, rows):
        day_index = columns.index(column)
        current: str | None = None
        writer: _DayFile | None = None
        for row in rows:
            day = time.strftime("%Y-%m-%d", time.gmtime(float(row[day_index])))
            if day != current:
                if writer is not None:
                    files.append(writer.close())
                current = day
                writer = _DayFile(to, table, day, columns)
            assert writer is not None
            writer.write(row)
    if writer is not None:
        files.append(writer.close())
    return files


def _snapshot(conn: Any, dialect: Dialect, table: str, to: Path) -> dict[str, Any]:
    with contextlib.closing(conn.execute(f"SELECT * FROM {table} ORDER BY 1")) as cursor:
        writer = _DayFile(to, table, "snapshot", [d[0] for d in cursor.description])
        for row in cursor:
            writer.write(tuple(row))
    return writer.close()


@contextlib.contextmanager
def _rows(
    conn: Any, dialect: Dialect, table: str, column: str, cutoff: float
) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """The column names and a cursor over the rows before `cutoff`, closed on leaving: a
    PostgreSQL server-side cursor WITH HOLD lives on the server until it is closed."""
    sql = f"SELECT * FROM {table} WHERE {column} < ? ORDER BY {column}"
    if dialect.name == "sqlite":
        cursor = conn.cursor()
    else:
        cursor = conn.cursor(name=f"archive_{table}", withhold=True)
        cursor.itersize = 5000
    try:
        cursor.execute(dialect.q(sql), (cutoff,))
        yield [d[0] for d in cursor.description], iter(cursor)
    finally:
        cursor.close()


class _DayFile:
    def __init__(self, root: Path, table: str, day: str, columns: list[str]) -> None:
        self.name = f"{table}/{day}.csv.gz"
        self.table, self.day = table, day
        self.path = root / self.name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = self.path.open("wb")
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)
        self._text = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow(columns)
        self.rows = 0

    def write(self, row: tuple[Any, ...]) -> None:
        self._csv.writerow([NULL if v is None else v for v in row])
        self.rows += 1

    def close(self) -> dict[str, Any]:
        self._text.close()
        self._raw.close()
        return {
            "name": self.name,
            "table": self.table,
            "day": self.day,
            "rows": self.rows,
            "sha256": checksum.sha256_of(self.path),
        }


def read_manifest(source: Path, key: bytes) -> dict[str, Any]:
    """The manifest after checking its signature and every file's hash; RecordsError else."""
    try:
        body = (source / MANIFEST).read_bytes()
        signature = (source / SIGNATURE).read_text().strip()
    except OSError as exc:
        raise RecordsError(f"{source}: not an archive ({exc})") from None
    if not signing.verify(key, body, signature):
        raise RecordsError(
            f"{source / MANIFEST}: the signature does not match (changed, or another key)"
        )
    manifest: dict[str, Any] = orjson.loads(body)
    if manifest.get("format") != FORMAT:
        raise RecordsError(f"{source / MANIFEST}: unknown format {manifest.get('format')!r}")
    for entry in manifest["files"]:
        path = source / entry["name"]
        if not path.is_file() or checksum.sha256_of(path) != entry["sha256"]:
            raise RecordsError(f"{path}: missing, or its SHA-256 is not the manifest's")
    return manifest


def unarchive(db: Database, source: Path, key: bytes, *, actor: str) -> dict[str, int]:
    """Insert an archive's rows into `db` (migrated first); rows already there are kept."""
    manifest = read_manifest(source, key)
    _migrate(db)
    loaded = dict.fromkeys((*SNAPSHOTS, *TABLES), 0)
    with connection(db) as (conn, dialect):
        for table in (*SNAPSHOTS, *TABLES):  # alarms before their acks (foreign key)
            for entry in (f for f in manifest["files"] if f["table"] == table):
                loaded[table] += _load(conn, dialect, table, source / entry["name"])
        days = [
            parse_day(Path(f["name"]).name.split(".")[0])
            for f in manifest["files"]
            if f["table"] == "readings"
        ]
        if days:  # the hourly summaries the reports read (central/storage/rollups.py)
            rollups.rebuild(conn, dialect, min(days), max(days) + 86_400.0)
    audit(db, actor, "archive.load", source.name, {"before": manifest["before"], "rows": loaded})
    return loaded


def _migrate(db: Database) -> None:
    import asyncio

    from central.storage import open_storage

    storage = open_storage(db.url, time.time)

    async def run() -> None:
        try:
            await storage.migrate()
        finally:
            await storage.close()

    asyncio.run(run())


def _load(conn: Any, dialect: Dialect, table: str, path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        columns = next(reader)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        count = 0
        with dialect.transaction(conn):
            for row in reader:
                dialect.execute(conn, sql, [None if v == NULL else v for v in row])
                count += 1
    return count
