"""Notification latency, storm grouping and sender throughput, against a local SMTP server.

0. End to end: an MQTT reading above the limit published to mosquitto, read by the real
   edge daemon (rule `high` without delay), committed, synced to central with the default
   sync interval (1s), planned and sent, until the SMTP catcher accepts the message:
   p50/p99 over sequential alarms (each cleared before the next).
1. Central only: an `alarm.raised` event POSTed to a real central (subprocess, SQLite, its
   notifications file with `group_wait: 0s`) until the message is accepted by the SMTP
   catcher (aiosmtpd, sim/mailcatcher.py): p50/p99 over sequential alarms.
2. Storm: 500 alarms of one policy within 10 s (50 per request, every second), two
   recipients, `group_wait: 5s`: messages per recipient and time until the last is accepted
   (targets: <= 3 per recipient and <= group_wait + 10 s).
3. Throughput: the sender (in-process, SQLite) sending 300 due notifications to distinct
   recipients, against a bare smtplib loop (one connection per message, as the sender does)
   sending the same number of messages to the same server.
Run: .venv/bin/python -m bench.notify_latency [--trials N]
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import statistics
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.report import record
from central.notify import outbox
from central.notify.config import parse_notifications
from central.notify.reload import NotifyHolder
from central.notify.sender import NotifyMetrics, Sender
from central.storage import open_storage
from runtime import events as ev
from sim.mailcatcher import MailCatcher
from tests.central.conftest import event, start_central
from tests.servers import free_port, wait_until

CONFIG = """\
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {port}, security: none, from: alarms@bench.example}}
defaults: {{group_wait: {wait}}}
policies:
  - name: bench
    levels: [{{after: 0s, notify: [{{channel: mail, to: [{to}]}}]}}]
"""


def _raised(gateway: str, seq: int, sensor: str) -> dict[str, object]:
    return event(
        gateway, seq, ev.ALARM_RAISED, sensor, rule="high", threshold=-70.0, value=-60.0,
        since=ev.format_time(time.time()), alarm_id=f"{gateway}:{sensor}:{seq}",
    )  # fmt: skip


EDGE = """\
connections:
  broker: {{mqtt: {{url: "mqtt://127.0.0.1:{mqtt}"}}}}
sync: {{url: "{central}", token_file: ./gateway.token}}
sensors:
  - id: e2e.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: bench/e2e, value: t}}
    alarms:
      high: {{above: -70, clear_below: -72}}
"""


def end_to_end(workdir: Path, trials: int) -> list[float]:
    """MQTT reading -> edge alarm -> sync -> central -> SMTP accepted, per alarm."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.edge.daemon_proc import start_daemon
    from tests.servers import mosquitto

    edge_dir = workdir / "edge"
    edge_dir.mkdir()
    (workdir / "mqtt").mkdir()
    with MailCatcher(free_port()) as mail, mosquitto(workdir / "mqtt") as broker:
        config = workdir / "e2e.yaml"
        config.write_text(CONFIG.format(port=mail.port, wait="0s", to='"ada@bench.example"'))
        db = f"sqlite:///{workdir / 'e2e.db'}"
        with start_central(db, "sqlite", workdir, "--notifications", str(config)) as central:
            (edge_dir / "gateway.token").write_text(central.token("test-gw") + "\n")
            daemon = start_daemon(edge_dir, EDGE.format(mqtt=broker.port, central=central.url))
            client = paho.Client(CallbackAPIVersion.VERSION2)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            out: list[float] = []
            try:
                for i in range(trials):
                    client.publish("bench/e2e", '{"t": -80.0}', qos=1).wait_for_publish()
                    began = time.time()
                    client.publish("bench/e2e", '{"t": -60.0}', qos=1).wait_for_publish()
                    wait_until(lambda n=i + 1: len(mail.messages) >= n, 30, 0.005)
                    out.append(mail.messages[i].received - began)
                    # Cleared (no message: the policy has no also_on) before the next raise.
                    client.publish("bench/e2e", '{"t": -80.0}', qos=1).wait_for_publish()
                    wait_until(lambda: central.count("alarms", "cleared_at IS NULL") == 0, 30, 0.01)
            finally:
                client.loop_stop()
                client.disconnect()
                daemon.stop()
            return out


def latency(workdir: Path, trials: int) -> list[float]:
    with MailCatcher(free_port()) as mail:
        config = workdir / "latency.yaml"
        config.write_text(CONFIG.format(port=mail.port, wait="0s", to='"ada@bench.example"'))
        db = f"sqlite:///{workdir / 'latency.db'}"
        with start_central(db, "sqlite", workdir, "--notifications", str(config)) as central:
            token = central.token("bench-gw")
            out: list[float] = []
            for i in range(trials):
                sensor = f"lat-{i}.temp"
                began = time.time()
                assert (
                    central.ingest(token, [_raised("bench-gw", i + 1, sensor)]).status_code == 200
                )
                wait_until(lambda s=sensor: any(s in m.subject for m in mail.messages), 30, 0.005)
                got = next(m for m in mail.messages if sensor in m.subject)
                out.append(got.received - began)
            return out


def storm(workdir: Path, alarms: int = 500) -> tuple[dict[str, int], float, bool]:
    with MailCatcher(free_port()) as mail:
        config = workdir / "storm.yaml"
        to = '"ada@bench.example", "bob@bench.example"'
        config.write_text(CONFIG.format(port=mail.port, wait="5s", to=to))
        db = f"sqlite:///{workdir / 'storm.db'}"
        with start_central(db, "sqlite", workdir, "--notifications", str(config)) as central:
            token = central.token("storm-gw")
            began = time.time()
            per_request = alarms // 10
            for second in range(10):
                batch = [
                    _raised("storm-gw", second * per_request + j + 1, f"s{second}-{j}.temp")
                    for j in range(per_request)
                ]
                assert central.ingest(token, batch).status_code == 200
                time.sleep(max(0.0, began + second + 1 - time.time()))  # paced: 10 s storm
            sensors = [f"s{s}-{j}.temp" for s in range(10) for j in range(per_request)]

            def named(address: str) -> bool:
                text = "".join(m.text for m in mail.messages if address in m.recipients)
                return all(s in text for s in sensors)

            wait_until(lambda: named("ada@bench.example") and named("bob@bench.example"), 120)
        counts = {
            a: sum(1 for m in mail.messages if a in m.recipients)
            for a in ("ada@bench.example", "bob@bench.example")
        }
        last = max(m.received for m in mail.messages) - began
        return counts, last, True


async def _sender_run(workdir: Path, port: int, count: int) -> float:
    storage = open_storage(f"sqlite:///{workdir / 'throughput.db'}", time.time)
    await storage.migrate()
    config = parse_notifications(
        CONFIG.format(port=port, wait="0s", to='"x@bench.example"'), "bench.yaml", base_dir=workdir
    )
    sender = Sender(
        storage, NotifyHolder(None, config), NotifyMetrics(CollectorRegistry()), time.time,
        batch=50,
    )  # fmt: skip
    now = time.time()

    def fill(conn: object, d: object) -> None:
        with d.transaction(conn):  # type: ignore[attr-defined]
            for i in range(count):
                outbox.create(
                    conn, d, policy="bench", level=0, event="test", channel="mail",  # type: ignore[arg-type]
                    recipients=[f"r{i}@bench.example"], alarm_ids=[], now=now, due=now,
                    group_until=now,
                )  # fmt: skip

    await storage.run_write(fill)
    began = time.perf_counter()
    while await sender.round():
        pass
    elapsed = time.perf_counter() - began
    await storage.close()
    return elapsed


def throughput(workdir: Path, count: int = 300) -> tuple[float, float]:
    with MailCatcher(free_port()) as mail:
        elapsed = asyncio.run(_sender_run(workdir, mail.port, count))
        assert len(mail.messages) == count, len(mail.messages)
        began = time.perf_counter()
        for i in range(count):
            message = EmailMessage()
            message["From"] = "alarms@bench.example"
            message["To"] = f"r{i}@bench.example"
            message["Subject"] = "baseline"
            message.set_content("baseline message")
            with smtplib.SMTP("127.0.0.1", mail.port) as client:
                client.send_message(message)
        bare = time.perf_counter() - began
    return count / elapsed, count / bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        e2e = sorted(end_to_end(work, max(10, args.trials // 4)))
        e50 = statistics.median(e2e)
        e99 = e2e[min(len(e2e) - 1, round(0.99 * (len(e2e) - 1)))]
        lat = sorted(latency(work, args.trials))
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        counts, last, _ = storm(work)
        sender_rate, bare_rate = throughput(work)
    body = f"""\
`bench/notify_latency.py`: a real central (subprocess, SQLite) with a notifications file,
a local SMTP server (aiosmtpd). Targets (issue 14): raise -> SMTP accepted p99 < 5 s plus
`group_wait` (plus the edge's sync interval); a storm of 500 alarms in 10 s -> <= 3 messages
per recipient, the last <= group_wait + 10 s after the first raise.

| measure | result |
|---|---|
| MQTT reading -> edge alarm -> sync (interval 1s) -> central -> SMTP accepted, `group_wait: 0s`, {len(e2e)} alarms | p50 {e50 * 1000:.0f} ms, p99 {e99 * 1000:.0f} ms (max {e2e[-1] * 1000:.0f} ms) |
| alarm event ingested -> SMTP accepted, `group_wait: 0s`, {len(lat)} alarms | p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms |
| storm: 500 alarms in 10 s, `group_wait: 5s`, 2 recipients | {counts["ada@bench.example"]} / {counts["bob@bench.example"]} messages per recipient, last accepted {last:.1f} s after the first raise |
| sender throughput, 300 messages to distinct recipients | {sender_rate:.0f} messages/s (bare smtplib loop, one connection each: {bare_rate:.0f}/s; ratio {sender_rate / bare_rate:.2f}) |

Central's part is mostly the sender's idle poll (0.25 s) and the SMTP exchange; end to end,
the edge adds its alarm latency (bench.alarm_latency) and up to one sync interval (1 s).
With the default `group_wait` (30 s) add that wait to every first message. The sender
records each message's outcome in its own committed transaction (on
SQLite with `synchronous=FULL`, an fsync per message): that bounds its throughput to tens
of messages per second on this disk, far above what grouped alarms need.
"""  # noqa: E501
    record("Notification latency", body)
    print(body)


if __name__ == "__main__":
    main()
