"""Soak: 1,000 simulated sensors through the whole stack for a bounded time.

    .venv/bin/python -m bench.soak --minutes 15      # what docs/benchmarks.md shows
    .venv/bin/python -m bench.soak --minutes 60      # the one-hour soak

Stack as in tests/system (simulator -> mosquitto -> edge -> Redis -> analytics; edge ->
central on a fresh PostgreSQL database), 1,000 ULT freezers at 1 message/s each, speed 60.
Samples RSS, open fds and threads of every service after a warm-up and at the end (growth
after warm-up must stay < 10 %, fds and threads flat), RSS once a minute in between (the
curve, and the growth over the second half: bounded state levels off, a leak does not),
the edge's log size (bounded by the size cap pruning delivered rows: `max_bytes` 32MiB)
and the delivery lag at the end.
Threads stand in for tasks: asyncio tasks are not visible from outside the process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.report import record
from tests.system.procs import wait_for
from tests.system.stack import CONFIGURED, GATEWAY, Stack, StackOptions, running_stack

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _proc_stats(pid: int) -> tuple[int, int, int]:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def _sample(stack: Stack) -> dict[str, tuple[int, int, int]]:
    pids = {p.name: p.pid for p in stack.procs()}
    for name, server in (("mosquitto", stack.broker), ("redis-server", stack.redis)):
        assert server.proc is not None
        pids[name] = server.proc.pid
    return {name: _proc_stats(pid) for name, pid in pids.items()}


def _log_bytes(stack: Stack) -> int:
    return sum(f.stat().st_size for f in stack.data_dir.glob("log.db*"))


def _stored(stack: Stack) -> int:
    with psycopg.connect(stack.db_url) as conn:
        row = conn.execute("SELECT count(*) FROM readings WHERE gateway = %s", (GATEWAY,))
        return int(row.fetchone()[0])  # type: ignore[index]


def _sent(stack: Stack) -> int:
    """Recorded readings of configured sensors (the simulator also sends others)."""
    with stack.record.open("rb") as f:
        return sum(1 for line in f if CONFIGURED.match(line[11 : line.index(b'"', 11)].decode()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0, help="soak duration")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before the baseline")
    parser.add_argument("--sensors", type=int, default=999, help="ULT freezers (max 999)")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    options = StackOptions(
        ult_count=args.sensors, rate=1.0, speed=60.0, offline_after="5m", tmpfs_size=None,
        max_bytes="32MiB", heartbeat="10s", fake_clock=False,
    )  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        running_stack(Path(tmp), POSTGRES, options) as stack,
    ):
        wait_for(lambda: _stored(stack) > args.sensors, 120, "first readings in central")
        time.sleep(args.warmup * 60)  # the warm-up is a duration, by definition
        base, base_log, t0 = _sample(stack), _log_bytes(stack), time.monotonic()
        sent0, stored0 = _sent(stack), _stored(stack)
        peak_log = base_log
        series = [(0.0, base)]  # RSS once a minute: does it level off?
        while time.monotonic() - t0 < args.minutes * 60:
            time.sleep(15)
            peak_log = max(peak_log, _log_bytes(stack))
            if time.monotonic() - t0 >= 60 * len(series):
                series.append(((time.monotonic() - t0) / 60, _sample(stack)))
        end, end_log = _sample(stack), _log_bytes(stack)
        elapsed = time.monotonic() - t0
        sent1, stored1 = _sent(stack), _stored(stack)
        stop_at = time.monotonic()
        stack.simulator.stop()
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 5 and time.monotonic() - stop_at < 300:
            now = _stored(stack)
            if now != last:
                last, stable_since = now, time.monotonic()
            time.sleep(0.5)
        lag = stable_since - stop_at
    rows = []
    worst = 0.0
    half = series[len(series) // 2]
    for name, (rss0, fd0, th0) in base.items():
        rss1, fd1, th1 = end[name]
        growth = (rss1 - rss0) / rss0 * 100
        late = (rss1 - half[1][name][0]) / half[1][name][0] * 100
        if name != "redis-server":  # it holds the stream (up to maxlen): data, not a leak
            worst = max(worst, growth)
        rows.append(
            f"| {name} | {rss0 / 2**20:.1f} | {rss1 / 2**20:.1f} | {growth:+.1f} % | "
            f"{late:+.1f} % | {fd0} → {fd1} | {th0} → {th1} |"
        )
    ours = ("central", "analytics", "edge", "simulator")
    step = max(1, round(len(series) / 7))
    marks = [*series[::step], *([series[-1]] if (len(series) - 1) % step else [])]
    curve = [
        f"| {minute:.0f} | " + " | ".join(f"{sample[n][0] / 2**20:.1f}" for n in ours) + " |"
        for minute, sample in marks
    ]
    command = f".venv/bin/python -m bench.soak --minutes {args.minutes:g}"
    body = f"""\
`{command}` ({args.sensors} simulated ULT freezers at 1 message/s each over MQTT, plus the 4
Modbus TCP/RTU, serial and Tasmota sensors: {args.sensors + 4} sensors; edge → Redis →
analytics, edge → central on PostgreSQL; all on one shared 2-core machine). Baseline
after a {args.warmup:g}-minute warm-up, then {elapsed / 60:.1f} minutes. The one-hour soak:
`.venv/bin/python -m bench.soak --minutes 60`.

| service | RSS after warm-up (MiB) | RSS at end (MiB) | growth | 2nd half | open fds | threads |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

RSS (MiB) by minutes after the warm-up, sampled once a minute:

| minute | {" | ".join(ours)} |
|---:|---:|---:|---:|---:|
{chr(10).join(curve)}

- Throughput in the measured span: {(sent1 - sent0) / elapsed:.0f} readings/s sent, \
{(stored1 - stored0) / elapsed:.0f} readings/s stored by central (ratio \
{(stored1 - stored0) / max(1, sent1 - sent0):.2f}); after the simulator stopped \
central had stored everything {lag:.1f} s later.
- Edge log (`log.db` + WAL) with `max_bytes: 32MiB`: {base_log / 2**20:.1f} MiB after \
warm-up, peak {peak_log / 2**20:.1f} MiB, {end_log / 2**20:.1f} MiB at the end: bounded by \
the size cap pruning delivered rows.
- Largest RSS growth of our services after warm-up: {worst:+.1f} % (goal < 10 %);
redis-server grows with the stream it holds (`maxlen` 1,000,000 events), by design.
Threads stand in for asyncio tasks, which are not visible from outside a process.
"""
    print(body)
    if not args.no_record:
        record("Soak", body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
