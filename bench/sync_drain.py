"""Sync backlog drain: readings buffered in the durable log, drained into central.

N readings are committed to a DurableLog first (as after a long outage), then the
Uploader (sync/uploader.py) drains them into a real central service (subprocess, uvicorn)
on SQLite and on PostgreSQL, each into a fresh database. Baseline in the same run: the
same batches, encoded beforehand, POSTed one after another by a bare httpx loop into
another fresh database -- what central can take when the client costs nothing.

Target (issue 5): >= 25,000 readings/s end to end.
Run: .venv/bin/python -m bench.sync_drain [--readings N] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from bench.report import record
from edge.entry import Entry
from edge.log import DurableLog
from edgeconfig import Config, Gateway, Sync
from runtime import events
from runtime.clock import SystemClock
from sync.batches import encode
from sync.uploader import IN_FLIGHT, Uploader
from tests.sync.real_central import Central, central, fresh_database

GATEWAY = "bench-edge-01"
TARGET = 25_000


@dataclass
class Result:
    backend: str
    loop: str
    readings: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


# --- the backlog -----------------------------------------------------------------------


async def fill_log(path: Path, n: int) -> None:
    """Commit n readings of 100 sensors, in chunks of 5,000 (as drivers do, faster)."""
    log = DurableLog.open(path, cursors=("redis", "sync"))
    start = time.time() - n * 0.01
    chunk = 5000
    for offset in range(0, n, chunk):
        entries = [
            Entry(
                events.READING,
                f"ult-F{i % 100:02d}.temp",
                start + i * 0.01,
                start + i * 0.01 + 0.004,
                {
                    "value": round(-80.0 + (i % 97) / 10, 2),
                    "unit": "degC",
                    "quantity": "temperature",
                    "kind": "freezer",
                },
            )
            for i in range(offset, min(n, offset + chunk))
        ]
        await log.append(entries)
    await log.close()


def bodies(path: Path, batch_max: int) -> list[bytes]:
    """The backlog as the uploader would send it (for the bare loop)."""
    log = DurableLog.open(path, cursors=("redis", "sync"))
    out: list[bytes] = []
    after = 0
    while stored := log.read_now(after, batch_max):
        out.append(encode(stored, GATEWAY).body)
        after = stored[-1].seq
    log.close_sync()
    return out


# --- central ---------------------------------------------------------------------------


# --- the two loops ---------------------------------------------------------------------


async def bare_loop(url: str, token: str, batches: list[bytes]) -> float:
    headers = {
        "Content-Type": events.BATCH_MEDIA_TYPE,
        "Content-Encoding": "gzip",
        "Authorization": f"Bearer {token}",
    }
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        begin = time.perf_counter()
        for body in batches:
            response = await client.post("/api/v1/ingest", content=body)
            response.raise_for_status()
        return time.perf_counter() - begin


async def uploader_drain(
    log_path: Path, url: str, token_file: Path, batch_max: int, in_flight: int
) -> float:
    config = Config(
        gateway=Gateway(id=GATEWAY, data_dir=log_path.parent),
        sync=Sync.model_validate(
            {"url": url, "token_file": token_file, "batch_max": batch_max, "timeout": "60s"}
        ),
    )
    log = DurableLog.open(log_path, cursors=("redis", "sync"))
    uploader = Uploader(config, log, SystemClock(), in_flight=in_flight)
    before = _batches()
    target = log.last_seq
    begin = time.perf_counter()
    task = asyncio.create_task(uploader.run())
    try:
        while log.cursor("sync") < target:
            if task.done():
                task.result()
                raise RuntimeError("the uploader stopped before the backlog was drained")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - begin
        after = _batches()
        answers = {
            k: int(after[k] - before.get(k, 0)) for k in after if after[k] > before.get(k, 0)
        }
        print(f"  uploader requests by answer: {answers}")
        return seconds
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await log.close()


def check(service: Central, n: int, what: str) -> None:
    stored, distinct = service.query("SELECT count(*), count(DISTINCT id) FROM readings")[0]
    if stored != n or distinct != n:
        raise RuntimeError(f"{what}: central stored {stored} ({distinct} distinct), expected {n}")


def _batches() -> dict[str, float]:
    return {
        result: REGISTRY.get_sample_value("tracseq_sync_batches_total", {"result": result}) or 0.0
        for result in ("ok", "rejected", "too_large", "retry", "auth", "refused")
    }


def run_backend(
    backend: str, work: Path, backlog: Path, batches: list[bytes], args: argparse.Namespace
) -> list[Result]:
    n = args.readings
    results = []
    with (
        fresh_database(backend, work, args.postgres, "bench_bare") as db,
        central(db, work, GATEWAY) as service,
    ):
        seconds = asyncio.run(bare_loop(service.url, service.token, batches))
        check(service, n, "bare loop")
        results.append(Result(backend, "bare httpx loop, 1 in flight (baseline)", n, seconds))
    with (
        fresh_database(backend, work, args.postgres, "bench_sync") as db,
        central(db, work, GATEWAY) as service,
    ):
        log_path = work / f"{backend}-log.db"
        shutil.copyfile(backlog, log_path)
        token_file = work / "token"
        token_file.write_text(service.token)
        seconds = asyncio.run(
            uploader_drain(log_path, service.url, token_file, args.batch, args.in_flight)
        )
        check(service, n, "uploader")
        loop = f"Uploader, batch {args.batch}, {args.in_flight} in flight"
        results.append(Result(backend, loop, n, seconds))
    return results


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"{args.readings:,} readings committed to the durable log beforehand, then drained into "
        "central (`tracseq-edge central`, uvicorn, one process) on loopback, each run into a "
        "fresh database; edge and central share the machine's 2 cores. Baseline: the same "
        "gzipped batches, encoded beforehand, POSTed back to back by a bare httpx loop.",
        "",
        "| backend | loop | readings | seconds | readings/s | vs baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend in dict.fromkeys(r.backend for r in results):
        rows = [r for r in results if r.backend == backend]
        base = rows[0].rate
        for r in rows:
            lines.append(
                f"| {backend} | {r.loop} | {r.readings:,} | {r.seconds:.1f} | {r.rate:,.0f} "
                f"| {r.rate / base:.2f}x |"
            )
    lines.append("")
    for r in results:
        if "Uploader" in r.loop:
            verdict = "meets" if r.rate >= TARGET else "is below"
            lines.append(
                f"- {r.backend}: the uploader drains at **{r.rate:,.0f} readings/s**, which "
                f"{verdict} the target of {TARGET:,}/s."
            )
    lines.append(
        "- Where the time goes (edge vs central, profile of central): see docs/sync.md, "
        '"Performance".'
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(
        "- One run on a machine shared with other work (load average at the end: "
        f"{load} on 2 cores); the baseline is measured in the same run for that reason."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--batch", type=int, default=5000, help="sync.batch_max")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-record", action="store_true", help="do not write the doc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sync-drain-") as tmp:
        work = Path(tmp)
        backlog = work / "backlog.db"
        begin = time.perf_counter()
        asyncio.run(fill_log(backlog, args.readings))
        batches = bodies(backlog, args.batch)
        print(f"backlog of {args.readings:,} ready in {time.perf_counter() - begin:.1f}s")
        results: list[Result] = []
        for backend in args.backends.split(","):
            for result in run_backend(backend, work, backlog, batches, args):
                print(f"{backend:8} {result.loop:45} {result.rate:10,.0f} readings/s")
                results.append(result)
    body = report(results, args)
    print(body)
    if not args.no_record:
        record("Sync backlog drain", body)


if __name__ == "__main__":
    main()
