"""Cost of gateway isolation in the ingest transaction (issue 13, item 1).

The ownership check (`central.storage.write._refuse_foreign`: one lookup per batch of the
sensors and alarms its new events touched) measured where it runs: the storage layer's
ingest transaction, in one process, no HTTP. The same batches (50 gateways x 10 batches x
250 readings, as `bench.central_ingest`) go into a fresh database per round; the time spent
inside the check is clocked in the same transactions, so the machine's load (shared by
other work) affects both sides alike. The HTTP benchmark (`bench.central_ingest`) cannot
show a difference this small on this machine: its run-to-run spread is tens of percent.

Run: .venv/bin/python -m bench.gateway_isolation [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.central_ingest import make_batches
from bench.report import record
from central.ingest import build_batch
from central.storage import write
from central.storage.dialect import Dialect
from central.storage.records import Batch
from tests.central.conftest import fresh_db

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_CHECK = write._refuse_foreign


def _connect(db: str) -> tuple[Dialect, Any]:
    if db.startswith("sqlite"):
        from central.storage.sqlite import SqliteDialect, connect, path_of

        return SqliteDialect(), connect(path_of(db))
    from central.storage.postgres import PostgresDialect
    from central.storage.postgres import connect as pg_connect

    return PostgresDialect(), pg_connect(db)


def timed(backend: str, batches: list[Batch]) -> tuple[float, float]:
    """(seconds of the whole ingest, seconds inside the ownership check) for every batch
    into a fresh database: the check's share, measured in the same transactions."""
    inside = 0.0

    def check(*args: Any) -> None:
        nonlocal inside
        started = time.perf_counter()
        try:
            _CHECK(*args)
        finally:
            inside += time.perf_counter() - started

    write._refuse_foreign = check  # type: ignore[assignment]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp,
            fresh_db(backend, Path(tmp), POSTGRES) as db,
        ):
            dialect, conn = _connect(db)
            dialect.migrate(conn, time.time())
            started = time.perf_counter()
            for batch in batches:
                write.ingest(conn, dialect, batch)
            seconds = time.perf_counter() - started
            conn.close()
            return seconds, inside
    finally:
        write._refuse_foreign = _CHECK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    bodies = make_batches(50, 10, 250)
    batches = []
    for gw, bs in bodies.items():
        for body in bs:
            batch, errors = build_batch(
                orjson.loads(gzip.decompress(body)), f"tracseq-edge/{gw}", time.time()
            )
            assert not errors
            batches.append(batch)
    events = sum(b.size for b in batches)
    lines = [
        f"{events:,} readings (50 gateways x 10 batches x 250, 8 sensors per gateway) through "
        "the storage layer's ingest transaction, one process, a fresh database per round, "
        f"{args.rounds} rounds; the time inside the ownership check is measured in the same "
        "transactions. Overhead: check time / (ingest time without it), median of the rounds.",
        "",
        "| backend | ingest s (median) | in the check, ms (median) | per batch, µs | overhead |",
        "|---|---:|---:|---:|---:|",
    ]
    for backend in args.backends.split(","):
        totals, checks, ratios = [], [], []
        for _ in range(args.rounds):
            total, check = timed(backend, batches)
            totals.append(total)
            checks.append(check)
            ratios.append(check / (total - check))
        lines.append(
            f"| {backend} | {statistics.median(totals):.2f} | "
            f"{statistics.median(checks) * 1000:.0f} | "
            f"{statistics.median(checks) / len(batches) * 1e6:.0f} | "
            f"{statistics.median(ratios) * 100:+.2f}% |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("Gateway isolation (ingest ownership check)", text)


if __name__ == "__main__":
    main()
