"""One trace follows a reading: driver receive -> log commit -> Redis XADD -> analytics, and
-> sync POST -> central ingest -> database write, with correct parent links (real OTLP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sim.local_servers import Server
from tests.edge.daemon_proc import REPO, start_daemon
from tests.ops.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.servers import free_port, wait_for_port, wait_until


def publish(port: int, topic: str, payload: dict[str, object]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="trace-test-pub")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, orjson.dumps(payload), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def the_trace(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan] | None:
    """The spans of the trace that starts at a driver batch, by name, once complete."""
    for root in (s for s in spans if s.name == "edge.intake"):
        trace = {s.name: s for s in spans if s.trace_id == root.trace_id}
        wanted = {
            "edge.intake", "edge.log.commit", "edge.redis.xadd", "analytics.process",
            "sync.post", "central.ingest", "central.db.write",
        }  # fmt: skip
        if wanted <= set(trace):
            return trace
    return None


def test_one_trace_spans_edge_redis_analytics_and_central(
    tmp_path: Path, mosquitto: Server, redis_server: Server
) -> None:
    with OtlpReceiver() as receiver:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        db = f"sqlite:///{tmp_path / 'central.db'}"
        token = subprocess.run(
            [sys.executable, "-m", "edge", "central", "token", "create", "test-gw", "--db", db],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()[-1]  # fmt: skip
        (tmp_path / "gateway.token").write_text(token)
        central_port, analytics_port = free_port(), free_port()
        # The children keep their own descriptors of the log files.
        with (
            (tmp_path / "central.log").open("w") as central_log,
            (tmp_path / "analytics.log").open("w") as analytics_log,
        ):
            central = subprocess.Popen(
                [sys.executable, "-m", "edge", "central", "--db", db,
                 "--listen", f"127.0.0.1:{central_port}"],
                cwd=REPO, env={**env, "OTEL_SERVICE_NAME": "tracseq-central"},
                stdout=subprocess.DEVNULL, stderr=central_log,
            )  # fmt: skip
            analytics = subprocess.Popen(
                [sys.executable, "-m", "edge", "analytics",
                 "--redis", f"redis://127.0.0.1:{redis_server.port}/0",
                 "--listen", f"127.0.0.1:{analytics_port}", "--instance", "trace-test"],
                cwd=REPO, env={**env, "OTEL_SERVICE_NAME": "tracseq-analytics"},
                stdout=subprocess.DEVNULL, stderr=analytics_log,
            )  # fmt: skip
        extra = f"""\
redis: {{url: "redis://127.0.0.1:{redis_server.port}/0"}}
sync: {{url: "http://127.0.0.1:{central_port}", token_file: gateway.token, interval: 200ms}}
connections:
  broker:
    mqtt: {{url: "mqtt://127.0.0.1:{mosquitto.port}", client_id: trace-test}}
sensors:
  - id: "ult-{{freezer}}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: "lab3/ult/{{freezer}}/telemetry", value: temp_c, time: ts}}
    alarms: {{high: {{above: -70, for: 5m, clear_below: -72}}}}
"""
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        daemon = None
        try:
            wait_for_port(central_port, timeout=30)
            daemon = start_daemon(tmp_path, extra, env=otel)
            wait_until(lambda: daemon.ready(), timeout=20)
            for i in range(3):
                publish(mosquitto.port, "lab3/ult/F12/telemetry",
                        {"ts": int(time.time() * 1000) + i, "temp_c": -80.2})  # fmt: skip
            try:
                wait_until(lambda: the_trace(receiver.snapshot()) is not None, timeout=60)
            except TimeoutError:
                seen = sorted({(s.service, s.name) for s in receiver.snapshot()})
                raise AssertionError(f"no complete trace; spans seen: {seen}") from None
        finally:
            if daemon is not None:
                daemon.stop()
            analytics.terminate()
            central.terminate()
            analytics.wait(timeout=15)
            central.wait(timeout=15)
        trace = the_trace(receiver.snapshot())
        assert trace is not None
        parent = {name: span.parent_id for name, span in trace.items()}
        ids = {name: span.span_id for name, span in trace.items()}
        assert parent["edge.intake"] == ""  # the trace starts at the driver
        assert parent["edge.log.commit"] == ids["edge.intake"]
        assert parent["edge.redis.xadd"] == ids["edge.intake"]
        assert parent["analytics.process"] == ids["edge.redis.xadd"]
        assert parent["sync.post"] == ids["edge.intake"]
        assert parent["central.ingest"] == ids["sync.post"]
        assert parent["central.db.write"] == ids["central.ingest"]
        services = {span.service for span in trace.values()}
        assert {"tracseq-edge", "tracseq-analytics", "tracseq-central"} <= services
