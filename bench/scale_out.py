"""Scale-out: 200 gateways x 50 sensors at 1 reading/s against central on one PostgreSQL.

Offered load: each simulated gateway POSTs, once a second, the 50 readings its sensors
took in that second (10,000 readings/s in all), like the uploader: one request at a time,
and whatever was not accepted (503, error) goes again with the next second's readings.
The gateways run in two load-generator processes; requests alternate between the
instances with no stickiness (gateway i's k-th request goes to instance (i + k) mod n).
One SSE client, on the last instance, counts the readings the live stream delivers and
how late (arrival minus reading time).

Two phases in the same run, each on a fresh PostgreSQL schema and bounded in time:
baseline = one central instance; scale-out = two central instances. Everything shares
this machine's cores with PostgreSQL, so the figure to read is the ratio, not the
absolute rate.

Run: .venv/bin/python -m bench.scale_out [--duration 60] [--gateways 200] [--sensors 50]
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
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psycopg

from bench.report import record
from central.auth import digest, gateway_source, new_secret
from runtime import events as ev
from tests.central.conftest import fresh_db, start_central

POSTGRES = os.environ.get("TRACSEQ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKLOG_MAX = 2_000  # readings a gateway sends at most in one request (its batch_max)


@dataclass
class Load:
    offered: int = 0
    accepted: int = 0
    requests: int = 0
    errors: int = 0
    unsent: int = 0  # still waiting at the end
    kinds: dict[str, int] = field(default_factory=dict)  # errors by status or exception
    latencies: list[float] = field(default_factory=list)


@dataclass
class Phase:
    name: str
    instances: int
    seconds: float
    load: Load
    streamed: int
    stream_delays: list[float]
    central_cpu_s: float  # CPU seconds of all central processes during the load
    load_average: float  # the machine's 1-minute load average at the end

    @property
    def accepted_s(self) -> float:
        return self.load.accepted / self.seconds


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _readings(gw: str, seq: int, sensors: int, at: float) -> list[dict[str, object]]:
    out = []
    received = ev.format_time(at)
    for s in range(sensors):
        out.append(
            ev.edge_event(
                gw,
                seq + s,
                ev.READING,
                time=at,
                subject=f"{gw}.s{s:02d}",
                data={
                    "value": -80.0 + (seq % 97) / 10,
                    "unit": "degC",
                    "quantity": "temperature",
                    "kind": "freezer",
                    "received": received,
                },
            ).to_dict()
        )
    return out


async def _drive(
    urls: list[str], tokens: dict[str, str], sensors: int, start: float, duration: float
) -> Load:
    load = Load()
    limits = httpx.Limits(max_connections=len(tokens) * 2, max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def gateway(index: int, gw: str) -> None:
            headers = {
                "authorization": f"Bearer {tokens[gw]}",
                "content-type": ev.BATCH_MEDIA_TYPE,
                "content-encoding": "gzip",
            }
            backlog: list[dict[str, object]] = []
            seq = 1
            tick = start + index / len(tokens)  # the gateways' seconds are spread out
            k = 0
            while tick < start + duration:
                await asyncio.sleep(max(0.0, tick - time.time()))
                # every second that has passed (a slow answer delays us) adds 50 readings
                while tick <= time.time() and tick < start + duration:
                    backlog.extend(_readings(gw, seq, sensors, tick))
                    load.offered += sensors
                    seq += sensors
                    tick += 1.0
                if not backlog:
                    continue
                batch = backlog[:BACKLOG_MAX]
                body = gzip.compress(orjson.dumps(batch), 1)
                url = urls[(index + k) % len(urls)]
                k += 1
                sent = time.perf_counter()
                try:
                    answer = await client.post(
                        f"{url}/api/v1/ingest", content=body, headers=headers
                    )
                except httpx.HTTPError as exc:
                    load.errors += 1
                    load.kinds[type(exc).__name__] = load.kinds.get(type(exc).__name__, 0) + 1
                    continue
                finally:
                    load.requests += 1
                load.latencies.append(time.perf_counter() - sent)
                if answer.status_code == 200:
                    load.accepted += int(answer.json()["accepted"])
                    del backlog[: len(batch)]
                else:
                    load.errors += 1
                    code = str(answer.status_code)
                    load.kinds[code] = load.kinds.get(code, 0) + 1
            load.unsent += len(backlog)

        async with asyncio.TaskGroup() as group:
            for index, gw in enumerate(tokens):
                group.create_task(gateway(index, gw))
    return load


def _drive_process(
    urls: list[str], tokens: dict[str, str], sensors: int, start: float, duration: float
) -> Load:
    return asyncio.run(_drive(urls, tokens, sensors, start, duration))


async def _watch(url: str, key: str, until: float) -> tuple[int, list[float]]:
    """Readings the live stream delivers on `url` until `until`, and their delays."""
    count = 0
    delays: list[float] = []
    headers = {"authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(30, read=20)
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream("GET", f"{url}/api/v1/stream", headers=headers) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"org.tracseq.reading"' in line:
                event = orjson.loads(line[6:])
                count += 1
                if count % 20 == 0:  # a sample is enough, parsing costs the generator CPU
                    delays.append(time.time() - ev.parse_time(event["time"]))
            if time.time() > until:
                break
    return count, delays


def _tokens(db: str, gateways: int) -> dict[str, str]:
    tokens = {f"scale-gw-{g:03d}": new_secret("tsg_") for g in range(gateways)}
    with psycopg.connect(db, autocommit=True) as conn, conn.transaction():
        for gw, secret in tokens.items():
            conn.execute(
                "INSERT INTO tokens (token_hash, source, created) VALUES (%s, %s, %s)",
                (digest(secret), gateway_source(gw), time.time()),
            )
    return tokens


def _key(db: str) -> str:
    secret = new_secret("tsk_")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_hash, name, role, created)"
            " VALUES (%s, 'bench', 'viewer', %s)",
            (digest(secret), time.time()),
        )
    return secret


@contextlib.contextmanager
def _centrals(workdir: Path, db: str, n: int) -> Iterator[list[tuple[str, int]]]:
    with contextlib.ExitStack() as stack:
        urls = []
        for i in range(n):
            home = workdir / f"central-{i}"
            home.mkdir()
            central = stack.enter_context(
                start_central(db, "postgres", home, "--max-inflight", "256")
            )
            _wait_ready(central.url)
            assert central.server.proc is not None
            urls.append((central.url, central.server.proc.pid))
        yield urls


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def run_phase(name: str, instances: int, args: argparse.Namespace) -> Phase:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        with (
            fresh_db("postgres", workdir, POSTGRES) as db,
            _centrals(workdir, db, instances) as started,
        ):
            urls = [url for url, _ in started]
            pids = [pid for _, pid in started]
            tokens = _tokens(db, args.gateways)
            key = _key(db)
            start = time.time() + 3.0  # the generators and the stream client start first
            names = list(tokens)
            halves = [names[i :: args.processes] for i in range(args.processes)]
            with ProcessPoolExecutor(args.processes) as pool:
                futures = [
                    pool.submit(
                        _drive_process,
                        urls,
                        {gw: tokens[gw] for gw in half},
                        args.sensors,
                        start,
                        args.duration,
                    )
                    for half in halves
                ]
                cpu = _cpu_seconds(pids)
                streamed, delays = asyncio.run(_watch(urls[-1], key, start + args.duration + 5))
                loads = [f.result() for f in futures]
                cpu = _cpu_seconds(pids) - cpu
    total = Load()
    for part in loads:
        total.offered += part.offered
        total.accepted += part.accepted
        total.requests += part.requests
        total.errors += part.errors
        total.unsent += part.unsent
        total.latencies += part.latencies
        for kind, n in part.kinds.items():
            total.kinds[kind] = total.kinds.get(kind, 0) + n
    load_average = os.getloadavg()[0]
    return Phase(name, instances, args.duration, total, streamed, delays, cpu, load_average)


def table(phases: list[Phase], args: argparse.Namespace) -> str:
    base = phases[0].accepted_s or 1.0
    lines = [
        "| phase | instances | offered | accepted | accepted/s | / baseline | requests "
        "| errors | left unsent | p50 ms | p99 ms | live stream readings | stream p50 ms "
        "| stream p99 ms | central CPU s | central CPU ms / 1,000 readings | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        load = p.load
        lines.append(
            f"| {p.name} | {p.instances} | {load.offered:,} | {load.accepted:,} "
            f"| {p.accepted_s:,.0f} | {p.accepted_s / base:.2f}x | {load.requests:,} "
            f"| {_errors(load)} | {load.unsent:,} | {_pct(load.latencies, 0.5):.0f} "
            f"| {_pct(load.latencies, 0.99):.0f} | {p.streamed:,} "
            f"| {_pct(p.stream_delays, 0.5):.0f} | {_pct(p.stream_delays, 0.99):.0f} "
            f"| {p.central_cpu_s:.0f} | {p.central_cpu_s / max(1, load.accepted) * 1e6:.0f} "
            f"| {p.load_average:.1f} |"
        )
    return "\n".join(lines)


def summary(phases: list[Phase]) -> str:
    """One line a reader can size with: the ratio and central's CPU per reading."""
    one, two = phases[0], phases[-1]
    per_1000 = two.central_cpu_s / max(1, two.load.accepted) * 1e6
    return (
        f"Two instances accepted {two.accepted_s / (one.accepted_s or 1):.2f}x what one did "
        f"({two.accepted_s:,.0f} vs {one.accepted_s:,.0f} readings/s; the offered load was "
        f"the ceiling whenever nothing was left unsent). Central used {per_1000:.0f} ms of CPU "
        f"per 1,000 readings, including the shared live stream: about "
        f"{1e6 / max(per_1000, 1e-9):,.0f} readings/s per core given to central. The latency "
        "is that of a machine with more runnable work than cores (see the load average): "
        "gateways then send what waited in bigger batches, as the uploader does."
    )


def _errors(load: Load) -> str:
    if not load.errors:
        return "0"
    kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(load.kinds.items()))
    return f"{load.errors:,} ({kinds})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--gateways", type=int, default=200)
    parser.add_argument("--sensors", type=int, default=50, help="per gateway, 1 reading/s each")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    phases = [
        run_phase("baseline: one instance", 1, args),
        run_phase("scale-out: two instances", 2, args),
    ]
    body = table(phases, args)
    print(body)
    command = "\n".join(
        [
            "Command: `.venv/bin/python -m bench.scale_out"
            + (f" --duration {args.duration:g}" if args.duration != 60 else "")
            + "` (PostgreSQL "
            + _server_version()
            + f", {os.cpu_count()} cores shared by PostgreSQL, the centrals, "
            + f"{args.processes} load-generator processes and the stream client; "
            + "the machine was shared with other work during the run).",
            "",
            f"Offered: {args.gateways} gateways x {args.sensors} sensors x 1 reading/s = "
            f"{args.gateways * args.sensors:,} readings/s for {args.duration:g} s per phase, "
            "one gzipped request per gateway per second, alternating between instances "
            "(no sticky sessions). p50/p99: ingest request latency. Live stream: readings an "
            "SSE client on the last instance received, and their delay (arrival minus "
            "reading time; sampled 1 in 20).",
            "",
            body,
            "",
            summary(phases),
        ]
    )
    if not args.no_record:
        record("Scale-out (PostgreSQL)", command)


def _server_version() -> str:
    with psycopg.connect(POSTGRES) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()
