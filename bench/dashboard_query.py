"""The dashboard's 30-day chart query over 1 M stored readings, SQLite and PostgreSQL.

One sensor gets 1,000,000 readings spread over 30 days (one every ~2.6 s) next to a
second sensor's 200,000 (so the index has to pick). The chart asks for min/avg/max per
step with ~720 steps (`GET /api/v1/sensors/{id}/readings?step=3600` for 30 days); the
figure is the time central's storage layer spends answering it (the SQL `GROUP BY` in the
database plus decoding the rows), median of 5 after one warm-up.

Baseline in the same run: the raw query for the same window (every reading, what a chart
without downsampling would have to fetch and send), median of 3.

Run: .venv/bin/python -m bench.dashboard_query [--readings 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import record
from central.storage import SqlStorage, open_storage
from central.storage.records import ReadingRow
from tests.central.conftest import fresh_db

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DAYS = 30
STEP = 3600.0  # what the dashboard asks for 30 days: 30 d / 720 steps
SENSOR = "ult-F12.temp"


def rows(sensor: str, count: int, end: float, prefix: str) -> list[ReadingRow]:
    span = DAYS * 86400
    return [
        ReadingRow(
            f"{prefix}:{i}",
            "bench",
            i,
            sensor,
            end - span + i * span / count,
            -80.0 + (i % 1000) / 500.0,
            "degC",
            "temperature",
            None,
        )
        for i in range(count)
    ]


async def fill(storage: SqlStorage, count: int, end: float) -> float:
    await storage.migrate()
    started = time.perf_counter()
    for sensor, n, prefix in ((SENSOR, count, "a"), ("ult-F14.temp", count // 5, "b")):
        batch = rows(sensor, n, end, prefix)
        for i in range(0, len(batch), 20_000):
            chunk = batch[i : i + 20_000]

            def insert(conn: object, d: object, chunk: list[ReadingRow] = chunk) -> None:
                from central.storage.dialect import Dialect

                assert isinstance(d, Dialect)
                with d.transaction(conn):
                    d.insert_readings(conn, chunk, end)

            await storage._write(insert)  # the storage layer's own bulk insert
    if storage.backend == "postgresql":
        await storage._write(lambda conn, d: d.execute(conn, "ANALYZE readings"))
    return time.perf_counter() - started


async def timed(fn: object, runs: int) -> tuple[float, int]:
    assert callable(fn)
    times = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - started)
        size = len(result)
    return statistics.median(times), size


async def measure(url: str, count: int) -> dict[str, float]:
    storage = open_storage(url, time.time)
    try:
        end = time.time()
        fill_s = await fill(storage, count, end)
        start = end - DAYS * 86400
        await storage.buckets(SENSOR, start, end, STEP)  # warm-up
        chart_s, buckets = await timed(lambda: storage.buckets(SENSOR, start, end, STEP), 5)
        raw_s, raw_rows = await timed(lambda: storage.readings(SENSOR, start, end, count + 1), 3)
        return {
            "fill": fill_s,
            "chart": chart_s,
            "buckets": buckets,
            "raw": raw_s,
            "raw_rows": raw_rows,
        }
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("sqlite", "postgres"):
            with fresh_db(backend, Path(tmp), POSTGRES) as url:
                results[backend] = asyncio.run(measure(url, args.readings))
                r = results[backend]
                print(
                    f"{backend}: chart {r['chart'] * 1000:.0f} ms ({r['buckets']} buckets), "
                    f"raw {r['raw'] * 1000:.0f} ms ({r['raw_rows']} rows)"
                )
    lines = [
        f"30 days of one sensor: {args.readings:,} readings (plus {args.readings // 5:,} of a "
        "second sensor), on a fresh SQLite file (WAL) and a fresh PostgreSQL schema. Server "
        "time in the storage layer (SQL + decoding), median of 5 (chart) and 3 (raw).",
        "",
        "| backend | chart query: min/avg/max per 1 h | steps | points to the browser "
        "| baseline: raw readings | rows | chart vs raw |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, r in results.items():
        lines.append(
            f"| {backend} | {r['chart'] * 1000:.0f} ms | {r['buckets']:,} | {r['buckets'] * 3:,} "
            f"| {r['raw'] * 1000:.0f} ms | {r['raw_rows']:,} "
            f"| {r['raw'] / r['chart']:.1f}x faster |"
        )
    worst = max(r["chart"] for r in results.values())
    lines += [
        "",
        f"Slowest chart query: **{worst * 1000:.0f} ms** (target < 500 ms); the browser gets "
        f"at most {max(r['buckets'] for r in results.values()) * 3:,} points instead of "
        f"{args.readings:,}. Run once on a shared, busy 2-core machine.",
    ]
    record("Dashboard chart query", "\n".join(lines))


if __name__ == "__main__":
    main()
