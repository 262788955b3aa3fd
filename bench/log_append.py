"""Log append: readings/s through group commit (synchronous=FULL) versus the same loop
committing one reading per transaction, in the same run.

Target (issue 2): >= 150,000 readings/s, >= 20x the per-reading-commit loop.
Run: .venv/bin/python -m bench.log_append [--readings N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.report import record
from edge.entry import Entry
from edge.log import DurableLog
from edge.sqlite import connect
from runtime import events


def make(n: int, start: float) -> list[Entry]:
    return [
        Entry(
            events.READING,
            f"ult-F{i % 50:02d}.temp",
            start + i * 0.001,
            start + i * 0.001,
            {
                "value": -80.0 + (i % 100) / 10,
                "unit": "degC",
                "quantity": "temperature",
                "kind": "freezer",
            },
        )
        for i in range(n)
    ]


async def group_commit(path: Path, n: int, producers: int = 8) -> float:
    """Readings/s with several producers appending batches of 500 (like drivers do)."""
    log = DurableLog.open(path, cursors=("redis", "sync"))
    entries = make(n, 1_800_000_000.0)
    chunk = 500
    begin = time.perf_counter()

    async def produce(k: int) -> None:
        for offset in range(k * chunk, n, producers * chunk):
            await log.append(entries[offset : offset + chunk])

    await asyncio.gather(*(produce(k) for k in range(producers)))
    elapsed = time.perf_counter() - begin
    await log.close()
    return n / elapsed


def per_reading_commit(path: Path, n: int) -> float:
    """The baseline: the same rows, one transaction (and one fsync) each."""
    conn = connect(path)
    from edge import schema

    schema.migrate(conn)
    import orjson

    entries = make(n, 1_900_000_000.0)
    begin = time.perf_counter()
    for seq, e in enumerate(entries, start=1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO entries (seq, type, subject, time, received, data, keep, value) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (seq, e.type, e.subject, e.time, e.received, orjson.dumps(e.data), 0, e.data["value"]),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - begin
    conn.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--baseline-readings", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fast = asyncio.run(group_commit(Path(tmp) / "group.db", args.readings))
        slow = per_reading_commit(Path(tmp) / "single.db", args.baseline_readings)
    ratio = fast / slow
    body = f"""\
Readings appended to the durable log (WAL, `synchronous=FULL`), 8 producers, batches of 500.

| loop | readings | readings/s |
|---|---:|---:|
| group commit (edge/log/) | {args.readings:,} | {fast:,.0f} |
| one transaction per reading (baseline) | {args.baseline_readings:,} | {slow:,.0f} |

Group commit is **{ratio:.0f}x** the per-reading-commit loop (target >= 20x) at
**{fast:,.0f} readings/s** (target >= 150,000/s)."""
    print(body)
    record("Log append (group commit)", body)


if __name__ == "__main__":
    main()
