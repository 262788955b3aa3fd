"""Records protection (issue 18): backup and restore of a large central, and ingest while a
backup runs.

For each backend, N readings (default 10 million) are loaded straight into a fresh central
database (SQLite: executemany in one transaction; PostgreSQL: COPY), then timed:
`central backup` (SQLite online backup API / pg_dump -Fc) and `central restore` into an
empty database, with the sizes of the database and the backup. Then a real central serves a
smaller database and 20 gateways ingest gzipped batches back to back, once alone (the
baseline of the same run) and once while `central backup` runs in a loop: the ratio is the
figure (target >= 0.8).

Run: .venv/bin/python -m bench.records [--readings 10000000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.central_ingest import drive, make_batches
from bench.report import record
from tests.central.conftest import fresh_db, run_cli, start_central
from tests.records.conftest import empty_db, with_schema
from tests.servers import wait_until

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _migrate(db: str) -> None:
    from central.storage import open_storage

    storage = open_storage(db, time.time)

    async def run() -> None:
        await storage.migrate()
        await storage.close()

    asyncio.run(run())


def _rows(count: int) -> Iterator[tuple[object, ...]]:
    end = time.time()
    for i in range(count):
        at = end - 30 * 86_400 + i * (30 * 86_400 / count)
        yield (f"bulk:{i}", "bulk", i, f"s{i % 100}", at, -80.0 + (i % 1000) / 500, "degC",
               "temperature", at, end)  # fmt: skip


def load(db: str, count: int) -> float:
    """Insert `count` readings directly; returns seconds."""
    _migrate(db)
    started = time.perf_counter()
    if db.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(db.removeprefix("sqlite:///"))
        conn.execute("PRAGMA synchronous=OFF")
        with conn:
            conn.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?,?)", _rows(count))
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db) as conn, conn.cursor() as cur:
            columns = "id, gateway, seq, sensor, time, value, unit, quantity, received, ingested"
            with cur.copy(f"COPY readings ({columns}) FROM STDIN") as copy:
                for row in _rows(count):
                    copy.write_row(row)
    return time.perf_counter() - started


def _size(db: str) -> int:
    if db.startswith("sqlite"):
        return Path(db.removeprefix("sqlite:///")).stat().st_size
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
        return int(row[0] or 0) if row else 0


def backup_restore(backend: str, count: int, tmp: Path) -> dict[str, float]:
    with fresh_db(backend, tmp, POSTGRES) as db:
        loaded = load(db, count)
        size = _size(db)
        started = time.perf_counter()
        code, _, err = run_cli("backup", "--db", db, "--to", str(tmp / "big.bak"))
        assert code == 0, err
        backup_s = time.perf_counter() - started
        with empty_db(backend, tmp, POSTGRES) as target:
            restored = with_schema(target, db)
            started = time.perf_counter()
            code, _, err = run_cli("restore", "--from", str(tmp / "big.bak"), "--db", restored)
            assert code == 0, err
            restore_s = time.perf_counter() - started
    return {
        "load_s": loaded,
        "db_bytes": size,
        "backup_s": backup_s,
        "backup_bytes": (tmp / "big.bak").stat().st_size,
        "restore_s": restore_s,
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def ingest_during_backup(backend: str, tmp: Path) -> tuple[float, float, int]:
    """(events/s alone, events/s during backups, backups made)."""
    with fresh_db(backend, tmp, POSTGRES) as db:
        load(db, 500_000)
        with start_central(db, backend, tmp) as central:
            wait_until(lambda: central.client.get(f"{central.url}/readyz").status_code == 200, 30)
            rates = []
            made = 0
            for phase in ("alone", "backup"):
                bodies = make_batches(20, 10, 250, prefix=f"bench-{phase}")
                tokens = {gw: central.token(gw) for gw in bodies}
                stop = threading.Event()

                def backups(phase: str = phase, stop: threading.Event = stop) -> None:
                    nonlocal made
                    n = 0
                    while not stop.is_set():
                        n += 1
                        with _quiet():
                            run_cli("backup", "--db", db, "--to", str(tmp / f"{phase}-{n}.bak"))
                        made += 1

                worker = threading.Thread(target=backups) if phase == "backup" else None
                if worker is not None:
                    worker.start()
                try:
                    result = asyncio.run(drive(central.url, tokens, bodies))
                finally:
                    stop.set()
                    if worker is not None:
                        worker.join()
                rates.append(result.rate)
    return rates[0], rates[1], made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    lines = [
        f"Backup and restore of a central holding {args.readings:,} readings (loaded "
        "directly), then ingest by 20 gateways alone and while `central backup` runs in a "
        "loop, on a database of 500,000 readings (same run, same machine).",
        "",
        "| backend | database MB | backup s | backup MB | restore s | ingest alone ev/s | "
        "during backup ev/s | ratio | backups during load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-records-{backend}-") as tmp:
            (Path(tmp) / "big").mkdir()
            (Path(tmp) / "ingest").mkdir()
            figures = backup_restore(backend, args.readings, Path(tmp) / "big")
            alone, during, made = ingest_during_backup(backend, Path(tmp) / "ingest")
        lines.append(
            f"| {backend} | {figures['db_bytes'] / 1e6:,.0f} | {figures['backup_s']:.1f} | "
            f"{figures['backup_bytes'] / 1e6:,.0f} | {figures['restore_s']:.1f} | "
            f"{alone:,.0f} | {during:,.0f} | {during / alone:.2f}x | {made} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "SQLite's backup is one read transaction (WAL: ingest's writes go on beside it); "
        "PostgreSQL's pg_dump is one repeatable-read snapshot. Restore time is dominated by "
        "rebuilding indexes (PostgreSQL) or copying and checking the file (SQLite). The "
        "machine has 2 cores shared by central, the database, pg_dump and the load generator.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("Records protection: backup, restore, ingest during backup", text)


if __name__ == "__main__":
    main()
