"""Steady rates: what a reading costs the running daemon at the paced rates labs really have.

A real `tracseq-edge run` (MQTT -> durable log -> rules -> Redis stream) against a private
mosquitto and redis-server. Publisher processes send QoS 1 readings evenly spaced (each
message at its due time, `time.sleep` in between, as sensor fleets do), one topic per
sensor, `{"ts": <epoch ms>, "temp_c": ...}`. After a warm-up, for the daemon process:
- CPU µs per reading (utime + stime of all its threads, /proc/PID/stat) and CPU %;
- disk syncs per second (`strace -c -f -e trace=fdatasync,fsync`, attached in a second
  window after the CPU window so ptrace does not inflate the CPU figure);
- bytes written per reading (/proc/PID/io `write_bytes`; `wchar` where the kernel does
  not account block I/O to the process), and RSS at the end.

Modes: `steady` (200/s over 1,000 topics; 2,000/s over 1,000 topics) and `smallbox` (the
daemon pinned to one core with taskset; 100, 1,000 and 5,000 sensors at 1 reading/10 s and
1 reading/s). `--baseline DIR` runs the same scenarios, in the same run, against the daemon
of another checkout (e.g. `git worktree add /tmp/base <commit>`) for before/after figures.

Run: .venv/bin/python -m bench.steady_rate [--mode steady|smallbox|all] [--seconds 10]
     [--baseline /tmp/base]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench.mqtt_intake import broker
from bench.report import record

REPO = Path(__file__).resolve().parent.parent
TOPIC = "bench/{sensor}/telemetry"
PER_PUBLISHER = 2500  # messages/s one paced publisher process sends at most
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    sensors: int
    rate: float  # readings/s in all
    pinned: bool = False


STEADY = [
    Scenario("200/s over 1,000 topics (1 reading/5 s each)", 1000, 200.0),
    Scenario("2,000/s over 1,000 topics (2 readings/s each)", 1000, 2000.0),
]
SMALLBOX = [
    Scenario(f"{n:,} sensors x 1/{period}", n, n / (10.0 if period == "10 s" else 1.0), True)
    for n in (100, 1000, 5000)
    for period in ("10 s", "s")
]


@dataclass
class Result:
    scenario: Scenario
    code: str  # "after" or "before"
    readings_s: float
    cpu_us: float
    cpu_pct: float
    syncs_s: float
    bytes_per_reading: float
    bytes_source: str
    rss_mib: float


# --- load ------------------------------------------------------------------------------


def _packet(kind: int, body: bytes) -> bytes:
    length, out = len(body), bytearray([kind])
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out) + body


def _publish(port: int, worker: int, workers: int, sensors: int, rate: float, until: float) -> None:
    """Publish this worker's share, each QoS 1 message at its due time (evenly spaced).

    A raw-socket MQTT 3.1.1 client (CONNECT, PUBLISH, PUBACKs read and dropped) so that
    the load generator costs a few µs per message and stays on time on a busy machine."""
    sock = socket.create_connection(("127.0.0.1", port))
    client_id = f"steady-pub-{worker}".encode()
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    sock.sendall(_packet(0x10, connect))
    sock.recv(4)  # CONNACK
    sock.setblocking(False)
    interval = workers / rate
    due = time.time() + worker / rate
    n, mid = worker, 0
    while due < until:
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        mid = mid % 65535 + 1
        topic = TOPIC.format(sensor=f"s{n % sensors:05d}").encode()
        payload = orjson.dumps({"ts": int(due * 1000), "temp_c": -80.0 + (n % 97) / 10})
        body = len(topic).to_bytes(2, "big") + topic + mid.to_bytes(2, "big") + payload
        sock.setblocking(True)
        sock.sendall(_packet(0x32, body))
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while sock.recv(65536):  # PUBACKs
                pass
        n += workers
        due += interval
    sock.setblocking(True)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


# --- the daemon ------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _config(workdir: Path, mqtt_port: int, redis_port: int, http_port: int) -> Path:
    path = workdir / "sensors.yaml"
    path.write_text(
        f"""gateway:
  id: bench-gw
  heartbeat: 60s
  data_dir: {workdir / "var"}
  listen: 127.0.0.1:{http_port}
redis:
  url: redis://127.0.0.1:{redis_port}/0
connections:
  broker:
    mqtt: {{url: "mqtt://127.0.0.1:{mqtt_port}", client_id: bench-gw}}
sensors:
  - id: "{{sensor}}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: "bench/{{sensor}}/telemetry", value: temp_c, time: ts}}
    alarms:
      high: {{above: 50}}
"""
    )
    return path


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def _io(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = int(value)
    return out


def _rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def _readings(http_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=10).text
    match = re.search(r"^tracseq_edge_readings_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _syncs(pid: int, seconds: float, workdir: Path) -> float:
    """fdatasync + fsync calls of all the daemon's threads over `seconds` (strace -c)."""
    if shutil.which("strace") is None:
        return float("nan")
    out = workdir / "strace.txt"
    proc = subprocess.Popen(
        ["strace", "-c", "-f", "-e", "trace=fdatasync,fsync", "-p", str(pid), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    calls = 0
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fdatasync", "fsync"):
            calls += int(parts[3])  # % time, seconds, usecs/call, calls, [errors,] syscall
    return calls


def run(scenario: Scenario, code: Path, label: str, seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="steady-") as tmp:
        workdir = Path(tmp)
        with broker(workdir) as mqtt_port, redis_server(workdir) as redis_port:
            http_port = _free_port()
            config = _config(workdir, mqtt_port, redis_port, http_port)
            argv = [sys.executable, "-m", "edge", "run", "-c", str(config)]
            if scenario.pinned:
                argv = ["taskset", "-c", "0", *argv]
            env = {**os.environ, "PYTHONPATH": str(code)}
            daemon = subprocess.Popen(
                argv, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                _wait_http(http_port, daemon)
                warmup, strace_s = 4.0, min(5.0, seconds / 2)
                start = time.time()
                until = start + warmup + seconds + strace_s + 1.0
                workers = max(1, math.ceil(scenario.rate / PER_PUBLISHER))
                pubs = [
                    multiprocessing.Process(
                        target=_publish,
                        args=(mqtt_port, w, workers, scenario.sensors, scenario.rate, until),
                    )
                    for w in range(workers)
                ]
                for pub in pubs:
                    pub.start()
                time.sleep(warmup)
                pid = daemon.pid
                cpu0, io0, n0, t0 = _cpu_s(pid), _io(pid), _readings(http_port), time.time()
                time.sleep(seconds)
                cpu1, io1, n1, t1 = _cpu_s(pid), _io(pid), _readings(http_port), time.time()
                syncs = _syncs(pid, strace_s, workdir)
                rss = _rss_mib(pid)
                for pub in pubs:
                    pub.join()
            finally:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
    readings = max(1.0, n1 - n0)
    written = io1["write_bytes"] - io0["write_bytes"]
    source = "write_bytes"
    if written <= 0:
        written, source = io1["wchar"] - io0["wchar"], "wchar"
    return Result(
        scenario=scenario,
        code=label,
        readings_s=readings / (t1 - t0),
        cpu_us=(cpu1 - cpu0) / readings * 1e6,
        cpu_pct=(cpu1 - cpu0) / (t1 - t0) * 100,
        syncs_s=syncs / strace_s,
        bytes_per_reading=written / readings,
        bytes_source=source,
        rss_mib=rss,
    )


# --- small things ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _wait_http(port: int, daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError("the daemon did not become ready within 30 s")


def _table(results: list[Result], with_before: bool) -> str:
    head = (
        "| scenario | code | readings/s | CPU µs/reading | CPU % | syncs/s | bytes/reading "
        "| RSS MiB |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r.scenario.name} | {r.code} | {r.readings_s:,.0f} | {r.cpu_us:,.0f} | "
            f"{r.cpu_pct:.1f} | {r.syncs_s:,.1f} | {r.bytes_per_reading:,.0f} | {r.rss_mib:.0f} |"
        )
    if with_before:
        lines.append("")
        lines.append("| scenario | CPU µs/reading after / before | syncs/s after / before |")
        lines.append("|---|---:|---:|")
        by = {(r.scenario.name, r.code): r for r in results}
        for s in dict.fromkeys(r.scenario.name for r in results):
            a, b = by.get((s, "after")), by.get((s, "before"))
            if a and b and b.cpu_us and b.syncs_s:
                lines.append(f"| {s} | {a.cpu_us / b.cpu_us:.2f}x | {a.syncs_s / b.syncs_s:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["steady", "smallbox", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", type=Path, help="a checkout to measure as 'before'")
    parser.add_argument("--only", type=int, nargs="*", help="scenario numbers (0-based)")
    args = parser.parse_args(argv)
    modes = {"steady": [STEADY], "smallbox": [SMALLBOX], "all": [STEADY, SMALLBOX]}[args.mode]
    load = os.getloadavg()
    for scenarios in modes:
        results: list[Result] = []
        for index, scenario in enumerate(scenarios):
            if args.only is not None and index not in args.only:
                continue
            codes = [(REPO, "after")]
            if args.baseline is not None:
                codes.append((args.baseline.resolve(), "before"))
            for code, label in codes:
                result = run(scenario, code, label, args.seconds)
                print(f"{scenario.name} [{label}]: {result}", flush=True)
                results.append(result)
        source = {r.bytes_source for r in results}
        note = (
            f"{args.seconds:g} s CPU window after a 4 s warm-up, then a strace window; "
            f"bytes from /proc/PID/io {'/'.join(sorted(source))}; load average at start "
            f"{load[0]:.1f} on this shared 2-core machine."
        )
        if scenarios is STEADY:
            body = (
                "`tracseq-edge run` (MQTT -> log -> rules -> Redis stream), QoS 1 readings "
                "evenly spaced from paced publisher processes, one topic per sensor. "
                "`before` = the daemon of the parent commit, same run.\n\n"
                + _table(results, args.baseline is not None)
                + "\n\n"
                + note
            )
            record("Steady rates (CPU and disk syncs per reading)", body)
        else:
            body = (
                "The daemon pinned to one core (`taskset -c 0`), each sensor publishing "
                "evenly spaced QoS 1 readings; MQTT -> log -> rules -> Redis stream.\n\n"
                + _table(results, args.baseline is not None)
                + "\n\n"
                + note
            )
            record("Small box (one core)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
