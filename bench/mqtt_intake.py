"""MQTT intake: QoS 1 readings/s from the broker into the committed log, ack after commit,
versus a bare paho-mqtt subscriber that only counts, same broker and load, same run.

Each round publishes N QoS 1 messages (several publisher processes) into the persistent
session of an offline consumer, then times the consumer draining that backlog: the bare
subscriber (paho's own network loop, auto-ack, counts in on_message) until it has counted N,
the MqttDriver (Pipeline + DurableLog, synchronous=FULL) until N readings are committed.
Both are MQTT 5 clients with the same Receive Maximum.

Target (issue 3): >= 50% of the bare subscriber's rate and >= 20,000 readings/s.
Run: .venv/bin/python -m bench.mqtt_intake [--messages N] [--rounds R] [--publishers P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.report import record
from drivers.mqtt import RECEIVE_MAXIMUM, MqttDriver
from edge.clock import SystemClock
from edge.config import Mqtt, Sensor
from edge.log import DurableLog
from edge.pipeline import Pipeline

TOPIC = "lab3/ult/{freezer}/telemetry"
FREEZERS = 50


def sensors() -> list[Sensor]:
    return [
        Sensor.model_validate(
            {
                "id": "ult-{freezer}.temp",
                "kind": "freezer",
                "quantity": "temperature",
                "unit": "degC",
                "source": {"connection": "bench", "topic": TOPIC, "value": "temp_c", "time": "ts"},
            }
        )
    ]


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _publish(port: int, worker: int, count: int, start_ms: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{worker}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for i in range(count):
        n = worker * count + i
        payload = orjson.dumps(
            {"ts": start_ms + n, "temp_c": -80.0 + (n % 100) / 10, "door": "closed"}
        )
        infos.append(client.publish(TOPIC.format(freezer=f"F{n % FREEZERS:02d}"), payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def publish_backlog(port: int, messages: int, publishers: int, start_ms: int) -> float:
    """Publish `messages` QoS 1 messages from `publishers` processes; returns msg/s."""
    per = messages // publishers
    begin = time.perf_counter()
    procs = [
        multiprocessing.Process(target=_publish, args=(port, w, per, start_ms))
        for w in range(publishers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return per * publishers / (time.perf_counter() - begin)


def _v5_client(client_id: str, manual_ack: bool = False) -> tuple[paho.Client, Properties]:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return client, props


def create_session(port: int, client_id: str) -> None:
    """Connect once to create the persistent session with its subscription, then leave."""
    client, props = _v5_client(client_id)
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.connect("127.0.0.1", port, clean_start=True, properties=props)
    client.subscribe("lab3/ult/+/telemetry", qos=1)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()


def bare(port: int, client_id: str, messages: int) -> float:
    """The baseline: paho's own loop, auto-ack, count in on_message. Returns msg/s."""
    client, props = _v5_client(client_id)
    count = 0
    done = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal count
        count += 1
        if count >= messages:
            done.set()

    client.on_message = on_message
    begin = time.perf_counter()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    done.wait(300)
    elapsed = time.perf_counter() - begin
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def driver(port: int, client_id: str, messages: int, workdir: Path) -> tuple[float, float]:
    """The MqttDriver into Pipeline + DurableLog. Returns (committed/s, acked/s)."""

    async def run() -> tuple[float, float]:
        log = DurableLog.open(workdir / "log.sqlite")
        settings = Mqtt(url=f"mqtt://127.0.0.1:{port}", client_id=client_id)
        mqtt = MqttDriver("bench", settings, sensors(), SystemClock())
        begin = time.perf_counter()
        task = asyncio.create_task(mqtt.run(Pipeline(log)))
        while log.last_seq < messages:  # noqa: ASYNC110  (polling keeps the measurement simple)
            await asyncio.sleep(0.002)
        committed = time.perf_counter() - begin
        while mqtt.health().counters["unacked"]:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        acked = time.perf_counter() - begin
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await log.close()
        return messages / committed, messages / acked

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    n = args.messages - args.messages % args.publishers
    bare_rates: list[float] = []
    driver_rates: list[float] = []
    acked_rates: list[float] = []
    publish_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, broker(Path(tmp)) as port:
        for round_ in range(args.rounds):
            start_ms = 1_767_225_600_000 + round_ * 10_000_000
            for who in ("bare", "driver"):
                client_id = f"bench-{who}-{round_}"
                create_session(port, client_id)
                publish_rates.append(publish_backlog(port, n, args.publishers, start_ms))
                if who == "bare":
                    bare_rates.append(bare(port, client_id, n))
                else:
                    workdir = Path(tmp) / f"round-{round_}"
                    workdir.mkdir()
                    rate, acked = driver(port, client_id, n, workdir)
                    driver_rates.append(rate)
                    acked_rates.append(acked)
            print(
                f"round {round_ + 1}: bare {bare_rates[-1]:,.0f}/s, "
                f"driver {driver_rates[-1]:,.0f}/s committed ({acked_rates[-1]:,.0f}/s acked)"
            )
    b, d, a = (statistics.median(x) for x in (bare_rates, driver_rates, acked_rates))
    ratio = d / b
    verdict = "met" if ratio >= 0.5 and d >= 20_000 else "MISSED"
    body = f"""
Draining a backlog of {n:,} QoS 1 messages (`{{"ts": ..., "temp_c": ..., "door": ...}}` on
`lab3/ult/F00..F49/telemetry`, published by {args.publishers} processes) from a private
mosquitto, MQTT 5, Receive Maximum {RECEIVE_MAXIMUM}. Median of {args.rounds} rounds; the
machine is shared by other work, so absolute figures move between runs.

| consumer | readings/s |
|---|---:|
| bare paho subscriber (own loop thread, auto-ack, only counts) | {b:,.0f} |
| MqttDriver -> Pipeline -> DurableLog (`FULL`), committed | {d:,.0f} |
| the same, all PUBACKs sent (ack after commit) | {a:,.0f} |

The driver reaches **{ratio:.0%}** of the bare subscriber at **{d:,.0f} readings/s**
(targets >= 50% and >= 20,000/s: {verdict}). Publishing ran at
{statistics.median(publish_rates):,.0f} msg/s (not part of the measurement).
"""
    print(body)
    if not args.no_record:
        record("MQTT intake", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
