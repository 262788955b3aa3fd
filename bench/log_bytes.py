"""Log write amplification: the row size, and the bytes a commit writes per reading.

Run in a child process per checkout (`PYTHONPATH=<checkout>`), so `before` is the parent
commit's log code and schema measured in the same run:
- **row size**: 100,000 readings shaped as the daemon stores them (1,000 sensors, the
  normalized `{"value", "unit", "quantity", "kind"}` data) bulk-loaded in commits of
  2,000, then the log's used bytes (tables and indexes, after a checkpoint) / rows;
- **bytes per reading** at 1, 5, 25 and 125 readings per commit (10/s one at a time;
  200/s, 1,000/s and 5,000/s in 25 ms commit windows), each commit one reading of that
  many different sensors, as a sensor fleet delivers them: the child's /proc/self/io
  `write_bytes` (page-cache pages dirtied: WAL, checkpoints into the main file, -shm)
  over the commits, divided by readings, and that over the row size.

The log alone (no cursor moves, no daemon): what the storage layout costs. The daemon's
figure, cursors and all, is in the steady-rate benchmark (bench.steady_rate).

Run: .venv/bin/python -m bench.log_bytes [--baseline /tmp/base]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
PER_COMMIT = (1, 5, 25, 125)
BULK_ROWS = 100_000
SENSORS = 1000


def measure(code: Path, *, rows_only: bool = False) -> dict[str, float]:
    """Row size and bytes/reading per commit size, for the log code of checkout `code`."""
    flags = ["--child", *(["--rows-only"] if rows_only else [])]
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *flags],
        env={**os.environ, "PYTHONPATH": str(code)},
        cwd=code,
        capture_output=True,
        check=True,
    )
    figures: dict[str, float] = orjson.loads(out.stdout.splitlines()[-1])
    return figures


def row_size(code: Path) -> float:
    """Bytes a daemon-shaped reading takes in the log of checkout `code` (with indexes)."""
    return measure(code, rows_only=True)["row_bytes"]


# --- the child: imports the log from PYTHONPATH ----------------------------------------


def _child(rows_only: bool) -> None:
    import asyncio
    import sqlite3
    import tempfile

    from edge.entry import Entry
    from edge.log import DurableLog

    def written() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split(":")[1])
        return 0

    data = {"unit": "degC", "quantity": "temperature", "kind": "freezer"}
    n = 0
    t0 = 1_800_000_000.0

    def readings(count: int) -> list[Entry]:
        nonlocal n
        out = []
        for _ in range(count):
            n += 1
            t = t0 + n / 1000  # 1,000 readings/s of the fleet: each sensor once a second
            value = -80.0 + (n % 97) / 10
            out.append(
                Entry(
                    "org.tracseq.reading",
                    f"s{n % SENSORS:05d}.temp",
                    round(t, 3),
                    t + 0.0007,
                    {"value": value, **data},
                )
            )
        return out

    async def run(path: Path) -> dict[str, float]:
        figures: dict[str, float] = {}
        log = DurableLog.open(path, commit_window=0.0)
        try:
            for _ in range(BULK_ROWS // 2000):
                await log.append(readings(2000))
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                size = conn.execute("PRAGMA page_size").fetchone()[0]
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            figures["row_bytes"] = (pages - free) * size / BULK_ROWS
            figures["page_size"] = size
            if rows_only:
                return figures
            for k in PER_COMMIT:
                commits = 400 if k < 25 else 20_000 // k
                before = written()
                for _ in range(commits):
                    await log.append(readings(k))
                figures[f"k{k}"] = (written() - before) / (commits * k)
        finally:
            await log.close()
        return figures

    with tempfile.TemporaryDirectory(prefix="log-bytes-") as tmp:
        figures = asyncio.run(run(Path(tmp) / "log.db"))
    print(orjson.dumps(figures).decode())


def _floor(f: dict[str, float]) -> str:
    """The arithmetic of what no layout can go below, from this run's figures."""
    row = f["row_bytes"]
    # bytes/reading ~ fixed + per_commit / k between 25 and 125 readings per commit
    per_commit = (f["k25"] - f["k125"]) / (1 / 25 - 1 / 125)
    fixed = f["k125"] - per_commit / 125
    needed = per_commit / (3 * row - fixed) if 3 * row > fixed else math.inf
    return (
        f"Floor: `fdatasync` writes whole 4 KiB blocks, so a reading committed alone costs at "
        f"least 4,096 bytes = **{4096 / row:.0f}x** the row size ({row:,.0f} B) whatever the "
        f"layout; 3x the row ({3 * row:,.0f} B) needs at least {math.ceil(4096 / (3 * row))} "
        f"readings per 4 KiB block written. Fitted between 25 and 125 readings per commit, "
        f"bytes/reading = {fixed:,.0f} + {per_commit:,.0f} / (readings per commit): about "
        f"{fixed / row:.1f}x the row for the rows themselves (WAL, then the checkpoint) plus "
        f"{per_commit / 1024:,.1f} KiB per commit (the newest pages of each b-tree, page 1, "
        f"4 KiB block rounding), so 3x needs about **{needed:,.0f} readings per commit** "
        f"(with the 25 ms commit window, about {needed * 40:,.0f} readings/s)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout to measure as 'before'")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.rows_only)
        return 0
    from bench.report import record

    codes = [(REPO, "after")]
    if args.baseline is not None:
        codes.append((args.baseline.resolve(), "before"))
    results = [(label, measure(code)) for code, label in codes]
    rates = {1: "1 (10/s)", 5: "5 (200/s)", 25: "25 (1,000/s)", 125: "125 (5,000/s)"}
    lines = [
        "| code | page size | row size B | readings per commit | bytes/reading | x row size |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for label, f in results:
        for k in PER_COMMIT:
            per = f[f"k{k}"]
            lines.append(
                f"| {label} | {f['page_size']:,.0f} | {f['row_bytes']:,.0f} | {rates[k]} | "
                f"{per:,.0f} | {per / f['row_bytes']:.1f}x |"
            )
    for label, f in results:
        print(label, f, flush=True)
    body = (
        "The durable log alone (`DurableLog`, commit window off), 100,000 readings of 1,000 "
        "sensors bulk-loaded first; then commits of k readings of k different sensors "
        "(the rate in brackets: what a 25 ms commit window gives). Row size = the log's "
        "used bytes (tables and indexes) / rows after the bulk load. Bytes = /proc/self/io "
        "`write_bytes` (page-cache pages dirtied: WAL appends, checkpoints, -shm) per "
        "reading. `before` = the parent commit's log, same run.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + _floor(results[0][1])
    )
    record("Log write amplification", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
