"""Central ingest with 50 concurrent gateways on loopback (issue 5, benchmark b).

A real central service (`tracseq-edge central`, uvicorn subprocess) on a fresh SQLite file
and on a fresh PostgreSQL schema; 50 gateways, each with its own token, POST gzipped
batches of readings back to back (the next batch after the previous 200, as the uploader
does), honouring 503 + Retry-After. Bodies are built before the clock starts, so the
figures are central's, not the load generator's (which still shares the 2 cores).

Baseline in the same run: the same rows inserted straight into the same schema through the
storage layer's own bulk insert (one transaction per batch, one thread, no HTTP, no JSON,
no validation) -- the database's ceiling for this workload.

Run: .venv/bin/python -m bench.central_ingest [--gateways 50] [--batches 10] [--batch 250]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench.report import record
from central.storage.dialect import Dialect
from central.storage.records import ReadingRow
from runtime import events as ev
from tests.central.conftest import fresh_db, run_cli, start_central

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Result:
    backend: str
    events: int
    seconds: float
    latencies: list[float]
    retries: int
    baseline_rows_s: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def make_batches(
    gateways: int, batches: int, size: int, prefix: str = "bench-gw"
) -> dict[str, list[bytes]]:
    base = time.time() - 3600
    out: dict[str, list[bytes]] = {}
    for g in range(gateways):
        gw = f"{prefix}-{g:02d}"
        bodies = []
        for b in range(batches):
            items = []
            for i in range(size):
                seq = b * size + i + 1
                at = base + seq * 0.1
                items.append(
                    ev.edge_event(
                        gw,
                        seq,
                        ev.READING,
                        time=at,
                        subject=f"{gw}.s{seq % 8}",
                        data={
                            "value": -80.0 + (seq % 50) / 10,
                            "unit": "degC",
                            "quantity": "temperature",
                            "kind": "freezer",
                            "received": ev.format_time(at),
                        },
                    ).to_dict()
                )
            bodies.append(gzip.compress(orjson.dumps(items), 5))
        out[gw] = bodies
    return out


async def drive(url: str, tokens: dict[str, str], bodies: dict[str, list[bytes]]) -> Result:
    latencies: list[float] = []
    retries = 0
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def gateway(gw: str) -> None:
            nonlocal retries
            headers = {
                "authorization": f"Bearer {tokens[gw]}",
                "content-encoding": "gzip",
                "content-type": ev.BATCH_MEDIA_TYPE,
            }
            for body in bodies[gw]:
                while True:
                    started = time.perf_counter()
                    answer = await client.post("/api/v1/ingest", content=body, headers=headers)
                    latencies.append(time.perf_counter() - started)
                    if answer.status_code == 200:
                        break
                    if answer.status_code not in (429, 503):
                        raise RuntimeError(f"{gw}: {answer.status_code} {answer.text[:200]}")
                    retries += 1
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for gw in bodies:
                group.create_task(gateway(gw))
        seconds = time.perf_counter() - started
    total = sum(len(orjson.loads(gzip.decompress(b))) for bs in bodies.values() for b in bs)
    return Result("", total, seconds, latencies, retries, 0.0)


def baseline(db: str, bodies: dict[str, list[bytes]]) -> float:
    """Rows/s of the storage layer's bulk insert, one transaction per batch, no HTTP."""
    dialect: Dialect
    if db.startswith("sqlite"):
        from central.storage.sqlite import SqliteDialect, connect, path_of

        dialect, conn = SqliteDialect(), connect(path_of(db))
    else:
        from central.storage.postgres import PostgresDialect
        from central.storage.postgres import connect as pg_connect

        dialect, conn = PostgresDialect(), pg_connect(db)
    dialect.migrate(conn, time.time())
    batches = []
    for bs in bodies.values():
        for body in bs:
            rows = []
            for item in orjson.loads(gzip.decompress(body)):
                e = ev.parse(item)
                assert e.gateway is not None and e.subject is not None and e.time is not None
                rows.append(
                    ReadingRow(
                        "base-" + e.id,
                        e.gateway,
                        e.data["seq"],
                        e.subject,
                        e.time,
                        e.data["value"],
                        "degC",
                        "temperature",
                        e.time,
                    )
                )
            batches.append(rows)
    started = time.perf_counter()
    for rows in batches:
        with dialect.transaction(conn):
            dialect.insert_readings(conn, rows, time.time())
    seconds = time.perf_counter() - started
    conn.close()
    return sum(len(r) for r in batches) / seconds


@contextlib.contextmanager
def service(backend: str, workdir: Path) -> Iterator[tuple[str, str]]:
    with (
        fresh_db(backend, workdir, POSTGRES) as db,
        start_central(db, backend, workdir) as central,
    ):
        yield central.url, db


def run_backend(backend: str, bodies: dict[str, list[bytes]]) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"bench-central-{backend}-") as tmp:
        with service(backend, Path(tmp)) as (url, db):
            tokens = {}
            for gw in bodies:
                code, out, err = run_cli("token", "create", gw, "--db", db)
                assert code == 0, err
                tokens[gw] = out.split()[-1]
            result = asyncio.run(drive(url, tokens, bodies))
        result.backend = backend
        with fresh_db(backend, Path(tmp) / "base", POSTGRES) as base_db:
            (Path(tmp) / "base").mkdir(exist_ok=True)
            result.baseline_rows_s = baseline(base_db, bodies)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch", type=int, default=250, help="events per request")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    bodies = make_batches(args.gateways, args.batches, args.batch)
    results = [run_backend(b, bodies) for b in args.backends.split(",")]
    lines = [
        f"{args.gateways} gateways on loopback, each POSTing {args.batches} gzipped batches of "
        f"{args.batch} readings back to back into a real central (uvicorn subprocess, fresh "
        "database). Baseline: the same rows through the storage layer's bulk insert, one "
        "transaction per batch, no HTTP/JSON/validation.",
        "",
        "| backend | events | events/s | p50 ms | p99 ms | 503 retries | baseline rows/s | "
        "ingest / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.events:,} | {r.rate:,.0f} | {r.percentile(0.5):.0f} | "
            f"{r.percentile(0.99):.0f} | {r.retries} | {r.baseline_rows_s:,.0f} | "
            f"{r.rate / r.baseline_rows_s:.2f}x |"
        )
    lines += [
        "",
        "Run once on a shared, busy 2-core machine; the load generator (httpx, one process) "
        "runs on the same cores as central and the database. Ingest is CPU-bound in central's "
        "one Python process (gzip, JSON, per-event validation, HTTP); with 50 batches in "
        "flight, latency is mostly queueing (Little's law: 50 x 250 events / events/s). "
        "PostgreSQL does its inserts in its own processes, so it uses the second core.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("Central ingest", text)


if __name__ == "__main__":
    main()
