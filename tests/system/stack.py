"""The whole TracSeq stack on loopback, each process ours to kill, pause and restart.

simulator --MQTT/Modbus TCP/RTU pty/serial pty--> edge --Redis--> analytics
                                                  edge --HTTP--> central --proxy--> PostgreSQL

mosquitto and redis-server are private (sim.local_servers, fixed ports so restarts
keep them); central talks to a fresh PostgreSQL database through `TcpProxy`; the edge
runs under libfaketime (wall clock only) when it is installed, with its data dir on a
small tmpfs when we are root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from sim.local_servers import Server, free_port, mosquitto, redis_server
from tests.system.pgproxy import TcpProxy
from tests.system.procs import REPO, Proc, entry, wait_for

GATEWAY = "sys-edge-01"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@dataclass
class StackOptions:
    """What the fleet looks like and how long alarms and caps are, quick or long."""

    ult_count: int = 12
    rate: float = 2.0
    speed: float = 60.0
    offline_after: str = "45s"
    scenario: list[str] = field(default_factory=list)
    silenced: str | None = None  # the sensor the scenario's dropout silences
    tmpfs_size: str | None = "24m"  # None: the data dir on the ordinary disk
    max_bytes: str = "256MiB"
    heartbeat: str = "5s"
    modbus_poll: str = "1s"
    fake_clock: bool = True
    analytics: bool = True


CONFIG = """\
gateway:
  id: {gateway}
  site: building-a/lab-3
  heartbeat: {heartbeat}
  data_dir: {data_dir}
  listen: 127.0.0.1:{edge_port}
  buffer: {{max_bytes: {max_bytes}, keep_delivered: 7d}}
redis:
  url: redis://127.0.0.1:{redis_port}/0
  stream: tracseq:events
  maxlen: 1000000
sync:
  url: http://127.0.0.1:{central_port}
  token_file: {token_file}
  batch_max: 5000
  interval: 500ms
connections:
  lab-broker:
    mqtt: {{url: "mqtt://127.0.0.1:{mqtt_port}", client_id: {gateway}, qos: 1}}
  bench-rs485:
    modbus: {{url: "rtu://{pty_dir}/rs485?baudrate=9600&parity=N&stopbits=1", timeout: 1s}}
  incubator-plc:
    modbus: {{url: "tcp://127.0.0.1:{modbus_port}", timeout: 1s}}
  ln2-monitor:
    serial: {{port: {pty_dir}/ln2, baudrate: 9600}}
sensors:
  - id: incubator-3.temp
    kind: incubator
    quantity: temperature
    unit: degC
    source: {{connection: lab-broker, topic: tele/incubator-3/SENSOR,
              value: DS18B20.Temperature, time: Time}}
  - id: "ult-{{freezer}}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: lab-broker, topic: "lab3/ult/{{freezer}}/telemetry",
              value: temp_c, time: ts}}
    alarms:
      high: {{above: -70, for: 0s, clear_below: -72}}
      offline: {{after: {offline_after}}}
  - id: cold-room-1.temp
    kind: room
    quantity: temperature
    unit: degC
    source: {{connection: bench-rs485, unit: 1, register: input 1, type: int16, scale: 0.1,
              poll: {modbus_poll}}}
  - id: incubator-3.co2
    kind: incubator
    quantity: co2
    unit: percent
    source: {{connection: incubator-plc, unit: 1, register: holding 100, type: float32,
              poll: {modbus_poll}}}
    calibration: {{offset: -0.1}}
  - id: ln2-dewar-1.level
    kind: ln2
    quantity: level
    unit: percent
    source: {{connection: ln2-monitor, match: '^LVL (?P<value>\\d+(\\.\\d+)?) %$'}}
"""

# Sensors the config above reads (the simulator also sends others: freezer-20a, humidity).
CONFIGURED = re.compile(
    r"^(ult-F\d+\.temp|incubator-3\.temp|cold-room-1\.temp|incubator-3\.co2|ln2-dewar-1\.level)$"
)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database on `admin_url`'s server, dropped afterwards."""
    name = f"tracseq_sys_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextlib.contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[bool]:
    """Mount a small tmpfs on `directory` when we are root; yields whether it is mounted."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
            capture_output=True,
        )
        mounted = done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            # What the edge held at the end outlives the mount, for a failure's diagnosis.
            kept = directory.with_name(directory.name + "-at-end")
            shutil.copytree(directory, kept, dirs_exist_ok=True, ignore_dangling_symlinks=True)
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)


@dataclass
class Stack:
    """Handles to every part of the running stack."""

    root: Path
    options: StackOptions
    db_url: str
    proxy: TcpProxy
    broker: Server
    redis: Server
    central: Proc
    analytics: Proc | None
    simulator: Proc
    edge: Proc
    data_dir: Path
    data_tmpfs: bool
    record: Path
    clock_file: Path | None
    config: Path

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"

    def step_clock(self, offset: str) -> None:
        """Set the edge's wall clock offset (libfaketime syntax: '+1h', '+0')."""
        assert self.clock_file is not None
        self.clock_file.write_text(offset + "\n")

    def restart_edge(self, kill: bool = True) -> None:
        self.edge.kill9() if kill else self.edge.stop()
        self.edge.start()

    def procs(self) -> list[Proc]:
        return [p for p in (self.central, self.analytics, self.simulator, self.edge) if p]


def _command(args: list[str]) -> str:
    out = subprocess.run([*entry(), *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"tracseq-edge {' '.join(args[:3])} failed: {out.stderr.strip()}")
    return out.stdout.split()[-1]


def _simulator_up(sim: Proc) -> bool:
    if not sim.alive():
        raise RuntimeError(f"simulator exited: {sim.tail()}")
    return "simulating" in sim.tail(20000)


@contextlib.contextmanager
def running_stack(root: Path, admin_db_url: str, options: StackOptions) -> Iterator[Stack]:
    """Start everything (dependencies first) in `root`; stop it all afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    secrets = root / "secrets"
    secrets.mkdir(exist_ok=True)
    (root / "mosquitto").mkdir(exist_ok=True)
    (root / "redis").mkdir(exist_ok=True)
    pty_dir = root / "pty"
    pty_dir.mkdir(exist_ok=True)
    data_dir = root / "edge-data"
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(fresh_database(admin_db_url))
        target = urlsplit(db_url)
        proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 5432))
        stack.callback(proxy.close)
        proxied = urlunsplit(target._replace(netloc=f"{target.username}@127.0.0.1:{proxy.port}"))
        data_tmpfs = (
            stack.enter_context(tmpfs(data_dir, options.tmpfs_size))
            if options.tmpfs_size
            else False
        )
        broker = stack.enter_context(mosquitto(root / "mosquitto"))
        redis = stack.enter_context(redis_server(root / "redis"))

        token = _command(["central", "token", "create", GATEWAY, "--db", db_url])
        (secrets / "gateway.token").write_text(token + "\n")
        analytics_token = _command(
            ["central", "token", "create", "sys-analytics", "--analytics", "--db", db_url]
        )
        (secrets / "analytics.token").write_text(analytics_token + "\n")

        procs: list[Proc] = []

        def stop_all() -> None:
            for proc in reversed(procs):
                proc.stop()

        stack.callback(stop_all)
        central_port = free_port()
        central = Proc(
            "central",
            [*entry(), "central", "--db", proxied, "--listen", f"127.0.0.1:{central_port}",
             "--log-format", "text", "--offline-after", "10m"],
            logs / "central.log", root, health_url=f"http://127.0.0.1:{central_port}/readyz",
        )  # fmt: skip
        procs.append(central)
        central.start()

        analytics = None
        if options.analytics:
            analytics_port = free_port()
            analytics = Proc(
                "analytics",
                [*entry(), "analytics", "--redis", f"redis://127.0.0.1:{redis.port}/0",
                 "--listen", f"127.0.0.1:{analytics_port}", "--instance", "sys-analytics",
                 "--claim-idle", "5s", "--central", f"http://127.0.0.1:{central_port}",
                 "--central-token-file", str(secrets / "analytics.token"),
                 "--log-format", "text"],
                logs / "analytics.log", root,
                health_url=f"http://127.0.0.1:{analytics_port}/healthz",
            )  # fmt: skip
            procs.append(analytics)
            analytics.start()

        modbus_port = free_port()
        record = root / "sent.jsonl"
        simulator = Proc(
            "simulator",
            [*entry(), "simulate", "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}",
             "--modbus-port", str(modbus_port), "--pty-dir", str(pty_dir),
             "--record", str(record), "--speed", str(options.speed),
             "--rate", str(options.rate), "--ult-count", str(options.ult_count),
             "--log-format", "text",
             *(arg for event in options.scenario for arg in ("--scenario", event))],
            logs / "simulator.log", root,
        )  # fmt: skip
        procs.append(simulator)
        simulator.start()
        wait_for(lambda: _simulator_up(simulator), 30, "simulator up")

        edge_port = free_port()
        config = root / "sensors.yaml"
        config.write_text(
            CONFIG.format(
                gateway=GATEWAY, heartbeat=options.heartbeat, data_dir=data_dir,
                edge_port=edge_port, max_bytes=options.max_bytes, redis_port=redis.port,
                central_port=central_port, token_file=secrets / "gateway.token",
                mqtt_port=broker.port, pty_dir=pty_dir, modbus_port=modbus_port,
                offline_after=options.offline_after, modbus_poll=options.modbus_poll,
            )
        )  # fmt: skip
        clock_file = None
        env: dict[str, str] = {}
        argv = [*entry(), "run", "-c", str(config), "--log-format", "text"]
        if options.fake_clock and FAKETIME_LIB.exists():
            clock_file = root / "edge-clock.rc"
            clock_file.write_text("+0\n")
            env.update(
                LD_PRELOAD=str(FAKETIME_LIB),
                FAKETIME_TIMESTAMP_FILE=str(clock_file),
                FAKETIME_CACHE_DURATION="1",
                FAKETIME_DONT_FAKE_MONOTONIC="1",
                FAKETIME_DISABLE_SHM="1",
            )
            argv = [argv[0], "-m", "tests.system.clockshim", *argv[3:]]
        edge = Proc(
            "edge", argv, logs / "edge.log", REPO,
            health_url=f"http://127.0.0.1:{edge_port}/healthz", env=env,
        )  # fmt: skip
        procs.append(edge)
        edge.start()
        yield Stack(
            root=root, options=options, db_url=db_url, proxy=proxy, broker=broker,
            redis=redis, central=central, analytics=analytics, simulator=simulator,
            edge=edge, data_dir=data_dir, data_tmpfs=data_tmpfs, record=record,
            clock_file=clock_file, config=config,
        )  # fmt: skip
