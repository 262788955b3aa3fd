"""Steady rates: what a reading costs the running daemon at the paced rates labs really have.

A real `tracseq-edge run` (MQTT -> durable log -> rules -> Redis stream) against a private
mosquitto and redis-server. Publisher processes send QoS 1 readings evenly spaced (each
message at its due time, `time.sleep` in between, as sensor fleets do), one topic per
sensor, `{"ts": <epoch ms>, "temp_c": ...}`. After a warm-up, for the daemon process:
- CPU µs per reading (utime + stime of all its threads, /proc/PID/stat) and CPU %;
- disk syncs per second (`strace -c -f -e trace=fdatasync,fsync`, attached in a second
  window after the CPU window so ptrace does not inflate the CPU figure);
- bytes written per reading (/proc/PID/io `write_bytes`; `wchar` where the kernel does
  not account block I/O to the process), and that over the row size (what a reading takes
  in that checkout's log, tables and indexes: bench.log_bytes.row_size), and RSS at the end.

The warm-up lasts at least one sensor period (plus 2 s): a templated sensor's first
reading also records its `sensor.described` event, a start-up cost, not a steady one.

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

from bench.log_bytes import row_size
from bench.mqtt_intake import broker
from bench.report import record

REPO = Path(__file__).resolve().parent.parent
TOPIC = "bench/{sensor}/telemetry"
PEER = "thingsboard-gateway"
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
PROFILE = [
    Scenario("200/s over 1,000 topics", 1000, 200.0),
    Scenario("2,000/s over 1,000 topics", 1000, 2000.0),
    Scenario("20,000/s over 1,000 topics", 1000, 20000.0),
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
    row_bytes: float = float("nan")  # a reading's bytes in this checkout's log
    top_frames: tuple[tuple[str, float], ...] = ()  # (function (file:line), share of samples)


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
    # A pinned daemon on a busy shared core can take a while to answer.
    text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=60).text
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


def _top_frames(pid: int, seconds: float, workdir: Path) -> tuple[tuple[str, float], ...]:
    """The functions where the daemon's threads spend their own time (py-spy, 100 Hz)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = workdir / "spy.txt"
    subprocess.run(
        [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format", "raw",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    if not out.exists():
        return ()
    leaves: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf] = leaves.get(leaf, 0) + int(count)
        total += int(count)
    top = sorted(leaves.items(), key=lambda item: -item[1])[:6]
    return tuple((name, n / total) for name, n in top)


def run(
    scenario: Scenario, code: Path, label: str, seconds: float, profile: bool = False
) -> Result:
    """One scenario against our daemon from checkout `code`, or (label "peer") against
    thingsboard-gateway installed in the venv `code`."""
    peer = label == PEER
    with tempfile.TemporaryDirectory(prefix="steady-") as tmp:
        workdir = Path(tmp)
        (workdir / "up").mkdir()
        with (
            broker(workdir) as mqtt_port,
            redis_server(workdir) as redis_port,
            broker(workdir / "up") as upstream_port,
        ):
            http_port = _free_port()
            upstream: Upstream | None = None
            if peer:
                (workdir / "conf").mkdir()
                _tb_config(workdir / "conf", workdir, mqtt_port, upstream_port, code)
                upstream = Upstream(upstream_port)
                argv = [str(code / "bin" / "python"), str(code / "bin" / "thingsboard-gateway")]
                env = {**os.environ, "TB_GW_CONFIG_DIR": str(workdir / "conf")}
                cwd = workdir
            else:
                config = _config(workdir, mqtt_port, redis_port, http_port)
                argv = [sys.executable, "-m", "edge", "run", "-c", str(config)]
                env = {**os.environ, "PYTHONPATH": str(code)}
                cwd = code
            if scenario.pinned:
                argv = ["taskset", "-c", "0", *argv]
            daemon = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                if upstream is not None:
                    time.sleep(10)  # its connector subscribes after start-up (no health URL)
                else:
                    _wait_http(http_port, daemon)
                period = scenario.sensors / scenario.rate
                warmup, strace_s = max(4.0, period + 2.0), min(5.0, seconds / 2)
                start = time.time()
                until = start + warmup + seconds + strace_s * (2 if profile else 1) + 1.0
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

                def count() -> float:
                    return float(upstream.count) if upstream is not None else _readings(http_port)

                cpu0, io0, n0, t0 = _cpu_s(pid), _io(pid), count(), time.time()
                time.sleep(seconds)
                cpu1, io1, n1, t1 = _cpu_s(pid), _io(pid), count(), time.time()
                syncs = _syncs(pid, strace_s, workdir)
                frames = _top_frames(pid, strace_s, workdir) if profile else ()
                rss = _rss_mib(pid)
                for pub in pubs:
                    pub.join()
            finally:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait(10)
                if upstream is not None:
                    upstream.close()
    readings = max(1.0, n1 - n0)
    offered = scenario.rate * (t1 - t0)
    # What the peer forwarded may lag what it took in: its CPU is charged to what was offered.
    cpu_readings = offered if peer else readings
    written = io1["write_bytes"] - io0["write_bytes"]
    source = "write_bytes"
    if written <= 0:
        written, source = io1["wchar"] - io0["wchar"], "wchar"
    return Result(
        scenario=scenario,
        code=label,
        readings_s=readings / (t1 - t0),
        cpu_us=(cpu1 - cpu0) / cpu_readings * 1e6,
        cpu_pct=(cpu1 - cpu0) / (t1 - t0) * 100,
        syncs_s=syncs / strace_s,
        bytes_per_reading=written / cpu_readings,
        bytes_source=source,
        rss_mib=rss,
        row_bytes=float("nan") if peer else _row_bytes(code),
        top_frames=frames,
    )


_ROWS: dict[Path, float] = {}


def _row_bytes(code: Path) -> float:
    if code not in _ROWS:
        _ROWS[code] = row_size(code)
    return _ROWS[code]


# --- the peer: thingsboard-gateway, when installed in a scratch venv ---------------------


def _tb_config(conf: Path, workdir: Path, source: int, upstream: int, venv: Path) -> None:
    """thingsboard-gateway's own configs: its MQTT connector on our broker, the same
    topics and value; upstream ("ThingsBoard") is a second mosquitto; memory storage."""
    package = next(venv.glob("lib/python3*/site-packages/thingsboard_gateway"))
    shutil.copytree(package / "config", conf, dirs_exist_ok=True)
    gateway = orjson.loads((conf / "tb_gateway.json").read_bytes())
    tb = gateway["thingsboard"]
    tb.update(host="127.0.0.1", port=upstream, remoteConfiguration=False, remoteShell=False)
    tb["statistics"]["enable"] = False
    tb["security"] = {"type": "accessToken", "accessToken": "bench"}
    gateway["connectors"] = [{"type": "mqtt", "name": "MQTT", "configuration": "mqtt.json"}]
    (conf / "tb_gateway.json").write_bytes(orjson.dumps(gateway))
    device = {
        "deviceNameExpressionSource": "topic",
        "deviceNameExpression": "(?<=bench/)(.*?)(?=/telemetry)",
        "deviceProfileExpressionSource": "constant",
        "deviceProfileExpression": "default",
    }
    converter = {
        "type": "json",
        "deviceInfo": device,
        "sendDataOnlyOnChange": False,
        "timeout": 60000,
        "attributes": [],
        "timeseries": [{"type": "double", "key": "temp_c", "value": "${temp_c}"}],
    }
    mqtt = {
        "broker": {
            "host": "127.0.0.1",
            "port": source,
            "clientId": "tb-bench",
            "version": 5,
            "maxMessageNumberPerWorker": 10,
            "maxNumberOfWorkers": 100,
            "cleanSession": True,
            "cleanStart": True,
            "sessionExpiryInterval": 0,
            "security": {"type": "anonymous"},
        },
        "mapping": [
            {"topicFilter": "bench/+/telemetry", "subscriptionQos": 1, "converter": converter}
        ],
    }
    (conf / "mqtt.json").write_bytes(orjson.dumps(mqtt))
    logs = orjson.loads((conf / "logs.json").read_bytes())
    (workdir / "logs").mkdir(exist_ok=True)
    for handler in logs["handlers"].values():
        if "filename" in handler:
            handler["filename"] = str(workdir / "logs" / Path(handler["filename"]).name)
        handler["level"] = "WARNING"
    for logger in logs.get("loggers", {}).values():
        logger["level"] = "WARNING"
    (conf / "logs.json").write_bytes(orjson.dumps(logs))


class Upstream:
    """Plays ThingsBoard on the upstream broker: answers the session-limits RPC (no limits)
    and counts the telemetry datapoints the peer forwards."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.count = 0
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-upstream")
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.subscribe([("v1/devices/me/rpc/request/+", 1), ("v1/gateway/telemetry", 1)])
        self._client.loop_start()

    def _on_message(self, client: object, _u: object, message: object) -> None:
        topic: str = message.topic  # type: ignore[attr-defined]
        if topic.startswith("v1/devices/me/rpc/request/"):
            limits = {"rateLimits": {}, "maxInflightMessages": 1000, "maxPayloadSize": 65536}
            request_id = topic.rsplit("/", 1)[1]
            self._client.publish(
                f"v1/devices/me/rpc/response/{request_id}", orjson.dumps(limits), 1
            )
            return
        body = orjson.loads(message.payload)  # type: ignore[attr-defined]
        self.count += sum(len(points) for points in body.values())

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


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


def _table(results: list[Result]) -> str:
    head = (
        "| scenario | code | readings/s | CPU µs/reading | CPU % | syncs/s | bytes/reading "
        "| x row size | RSS MiB |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = r.bytes_per_reading / r.row_bytes
        amplification = "-" if math.isnan(ratio) else f"{ratio:.1f}x"
        lines.append(
            f"| {r.scenario.name} | {r.code} | {r.readings_s:,.0f} | {r.cpu_us:,.0f} | "
            f"{r.cpu_pct:.1f} | {r.syncs_s:,.1f} | {r.bytes_per_reading:,.0f} | "
            f"{amplification} | {r.rss_mib:.0f} |"
        )
    by = {(r.scenario.name, r.code): r for r in results}
    ratios = []
    for name in dict.fromkeys(r.scenario.name for r in results):
        after = by.get((name, "after"))
        for other in ("before", PEER):
            them = by.get((name, other))
            if after and them and them.cpu_us:
                syncs = f"{after.syncs_s / them.syncs_s:.2f}x" if them.syncs_s else "-"
                ratios.append(
                    f"| {name} | after / {other} | {after.cpu_us / them.cpu_us:.2f}x | {syncs} |"
                )
    if ratios:
        lines += [
            "",
            "| scenario | ratio | CPU µs/reading | syncs/s |",
            "|---|---|---:|---:|",
            *ratios,
        ]
    return "\n".join(lines)


def _row_note(results: list[Result]) -> str:
    sizes = {r.code: r.row_bytes for r in results if not math.isnan(r.row_bytes)}
    if not sizes:
        return ""
    each = ", ".join(f"{code} {size:,.0f} B" for code, size in sizes.items())
    worst = max(
        (r for r in results if r.code == "after"),
        key=lambda r: r.bytes_per_reading / r.row_bytes,
        default=None,
    )
    target = ""
    if worst is not None:
        ratio = worst.bytes_per_reading / worst.row_bytes
        met = [
            r.scenario.name
            for r in results
            if r.code == "after" and r.bytes_per_reading <= 3 * r.row_bytes
        ]
        target = (
            f" (target <= 3x: met in {', '.join(met) if met else 'none'}; at most "
            f"{ratio:.1f}x, {worst.scenario.name}: few readings per commit, each writing "
            "whole 4 KiB blocks: the floor in 'Log write amplification')"
        )
    return f"row size (a reading in the log, with indexes: bench.log_bytes) {each}{target}; "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["steady", "smallbox", "profile", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", type=Path, help="a checkout to measure as 'before'")
    parser.add_argument("--only", type=int, nargs="*", help="scenario numbers (0-based)")
    parser.add_argument(
        "--peer-venv",
        type=Path,
        help="a venv with thingsboard-gateway installed (steady mode only), e.g. "
        "python3 -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install thingsboard-gateway==3.8.5",
    )
    args = parser.parse_args(argv)
    modes = {
        "steady": [STEADY],
        "smallbox": [SMALLBOX],
        "profile": [PROFILE],
        "all": [STEADY, SMALLBOX],
    }[args.mode]
    load = os.getloadavg()
    for scenarios in modes:
        results: list[Result] = []
        for index, scenario in enumerate(scenarios):
            if args.only is not None and index not in args.only:
                continue
            codes = [(REPO, "after")]
            if args.baseline is not None:
                codes.append((args.baseline.resolve(), "before"))
            if args.peer_venv is not None and scenarios is STEADY:
                codes.append((args.peer_venv.resolve(), PEER))
            for code, label in codes:
                result = run(scenario, code, label, args.seconds, profile=scenarios is PROFILE)
                print(f"{scenario.name} [{label}]: {result}", flush=True)
                results.append(result)
        source = {r.bytes_source for r in results}
        ours = [r for r in results if r.code == "after"]
        if ours:
            worst = max(ours, key=lambda r: r.syncs_s)
            note = (
                f"Disk syncs: at most **{worst.syncs_s:.1f}/s** ({worst.scenario.name}; "
                "target <= 50/s at any steady rate). "
            )
        else:
            note = ""
        note += (
            f"{args.seconds:g} s CPU window after a warm-up of one sensor period + 2 s "
            "(at least 4 s), then a strace window; "
            f"bytes from /proc/PID/io {'/'.join(sorted(source))}; "
            + _row_note(results)
            + f"load average at start "
            f"{load[0]:.1f} on this shared 2-core machine."
        )
        if scenarios is PROFILE:
            lines = [
                "Where the daemon's threads spend their own time (py-spy `record --format raw`, "
                "leaf functions, share of the samples py-spy counts as active), at steady "
                "paced rates. "
                "`before` = the parent commit's daemon, same run.",
                "",
                "| rate | code | achieved/s | CPU µs/reading | top frames (share of samples) |",
                "|---|---|---:|---:|---|",
            ]
            for r in results:
                frames = "<br>".join(f"{share:.0%} `{name}`" for name, share in r.top_frames)
                lines.append(
                    f"| {r.scenario.name} | {r.code} | {r.readings_s:,.0f} | {r.cpu_us:,.0f} "
                    f"| {frames} |"
                )
            record("Steady rates: top frames (py-spy)", "\n".join(lines) + "\n\n" + note)
            continue
        if scenarios is STEADY:
            body = (
                "`tracseq-edge run` (MQTT -> log -> rules -> Redis stream), QoS 1 readings "
                "evenly spaced from paced publisher processes, one topic per sensor. "
                "`before` = the daemon of the parent commit, same run. "
                "readings/s: committed (ours), forwarded upstream (thingsboard-gateway 3.8.5, "
                "its MQTT connector on the same broker and topics, memory storage, a mosquitto "
                "playing ThingsBoard); the peer's CPU and bytes are per reading offered.\n\n"
                + _table(results)
                + "\n\n"
                + note
            )
            record("Steady rates (CPU and disk syncs per reading)", body)
        else:
            body = (
                "The daemon pinned to one core (`taskset -c 0`), each sensor publishing "
                "evenly spaced QoS 1 readings; MQTT -> log -> rules -> Redis stream.\n\n"
                + _table(results)
                + "\n\n"
                + note
            )
            record("Small box (one core)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
