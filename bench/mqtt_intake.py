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
from edge.log import DurableLog
from edge.pipeline import Pipeline
from edgeconfig import Mqtt, Sensor
from runtime.clock import SystemClock

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


def _v311_client(client_id: str) -> paho.Client:
    return paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=False,
    )


def create_session(port: int, client_id: str, v311: bool = False) -> None:
    """Connect once to create the persistent session with its subscription, then leave."""
    done = threading.Event()
    if v311:
        client = _v311_client(client_id)
        client.connect("127.0.0.1", port)
    else:
        client, props = _v5_client(client_id)
        client.connect("127.0.0.1", port, clean_start=True, properties=props)
    client.on_subscribe = lambda *a: done.set()
    client.subscribe("lab3/ult/+/telemetry", qos=1)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()


def bare(port: int, client_id: str, messages: int, v311: bool = False) -> float:
    """The baseline: paho's own loop, auto-ack, count in on_message. Returns msg/s."""
    if v311:
        client = _v311_client(client_id)
    else:
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
    if v311:
        client.connect("127.0.0.1", port)
    else:
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
    rates: dict[str, list[float]] = {"bare": [], "bare311": [], "driver": [], "acked": []}
    ratios: list[float] = []
    publish_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, broker(Path(tmp)) as port:
        for round_ in range(args.rounds):
            start_ms = 1_767_225_600_000 + round_ * 10_000_000
            for who in ("bare", "bare311", "driver"):
                client_id = f"bench-{who}-{round_}"
                create_session(port, client_id, v311=who == "bare311")
                publish_rates.append(publish_backlog(port, n, args.publishers, start_ms))
                if who != "driver":
                    rates[who].append(bare(port, client_id, n, v311=who == "bare311"))
                    continue
                workdir = Path(tmp) / f"round-{round_}"
                workdir.mkdir()
                rate, acked = driver(port, client_id, n, workdir)
                rates["driver"].append(rate)
                rates["acked"].append(acked)
            best_bare = max(rates["bare"][-1], rates["bare311"][-1])
            ratios.append(rates["driver"][-1] / best_bare)
            print(
                f"round {round_ + 1}: bare v5 {rates['bare'][-1]:,.0f}/s, "
                f"bare v3.1.1 {rates['bare311'][-1]:,.0f}/s, driver {rates['driver'][-1]:,.0f}/s "
                f"committed ({rates['acked'][-1]:,.0f}/s acked)"
            )
    b5, b3, d, a = (statistics.median(rates[k]) for k in ("bare", "bare311", "driver", "acked"))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= 0.5 and d >= 20_000 else "MISSED"
    rounds = "\n".join(
        f"| {i + 1} | {rates['bare'][i]:,.0f} | {rates['bare311'][i]:,.0f} | "
        f"{rates['driver'][i]:,.0f} | {ratios[i]:.0%} |"
        for i in range(args.rounds)
    )
    body = f"""
Draining a backlog of {n:,} QoS 1 messages (`{{"ts": ..., "temp_c": ..., "door": ...}}` on
`lab3/ult/F00..F49/telemetry`, published by {args.publishers} processes) from a private
mosquitto (`max_inflight_messages 0`). The MQTT 5 clients ask for Receive Maximum
{RECEIVE_MAXIMUM}. Median of {args.rounds} rounds, each consumer measured back to back in a
round; the machine is shared by other work (run once, at the end), so absolute figures move.

| consumer | readings/s |
|---|---:|
| bare paho subscriber, MQTT 5 (paho's loop thread, auto-ack, only counts) | {b5:,.0f} |
| bare paho subscriber, MQTT 3.1.1 (same) | {b3:,.0f} |
| MqttDriver -> Pipeline -> DurableLog (`FULL`), committed | {d:,.0f} |
| the same, all PUBACKs sent (ack after commit) | {a:,.0f} |

| round | bare v5 | bare v3.1.1 | driver | driver / faster bare |
|---:|---:|---:|---:|---:|
{rounds}

The driver reaches **{ratio:.0%}** of the faster bare subscriber (median of per-round ratios)
at **{d:,.0f} readings/s** (targets >= 50% and >= 20,000/s: {verdict}). It can match or
beat the bare subscriber because it drains every readable event in one go (paho's own loop
does a `select` per packet) and parses PUBLISH packets directly (`drivers/mqtt_client.py`) instead
of building paho's per-message objects; the SQLite commit runs in the log's writer thread
and overlaps the network reads. Publishing ran at {statistics.median(publish_rates):,.0f}
msg/s (not part of the measurement).
"""
    print(body)
    if not args.no_record:
        record("MQTT intake", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
