"""`tracseq-edge analytics` as real processes: HTTP endpoints, arguments, kill -9 of one of two."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from analytics.cli import main
from runtime.events import ANALYTICS_PREDICTION
from tests.analytics.conftest import outputs
from tests.analytics.scenario import (
    FREEZER_ALARMS,
    T0,
    Gateway,
    compressor_failure,
    freezer,
    publish,
)
from tests.servers import Server, free_port, wait_for_port, wait_until

STREAM = "tracseq:events"


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Instance:
    def __init__(self, redis_port: int, name: str, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.name = name
        argv = [sys.executable, "-m", "edge", "analytics", "--redis",
                f"redis://127.0.0.1:{redis_port}/0", "--listen", f"127.0.0.1:{self.port}",
                "--instance", name, "--claim-idle", "1s", "--log-format", "json",
                *extra]  # fmt: skip
        with log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=20)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def health(self) -> dict[str, object]:
        status, body = get(self.port, "/healthz")
        assert status == 200
        result: dict[str, object] = json.loads(body)
        return result

    def freeze(self, redis: Redis) -> None:
        """Stop the process and let Redis serve what it wrote before it stopped.

        SIGSTOP takes effect when the kernel next schedules the process, and an XACK already
        in Redis' socket queue is served after that: reading the pending entries before it is
        served counts ones the process has already acknowledged. On loopback a completed
        write is in Redis' queue, and Redis reads every ready socket in the event-loop pass
        that answers a PING sent after it, so two round trips leave nothing of it unserved.
        """
        self.proc.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self.proc.pid}/stat")
        wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", timeout=5)
        redis.ping()
        redis.ping()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=20)


def counted(redis: Redis) -> int:
    return int(redis.hget("tracseq:analytics:state:counts", "processed") or 0)


def pending_of(redis: Redis, consumer: str) -> int:
    for row in redis.xpending(STREAM, "tracseq-analytics")["consumers"]:
        name = row["name"].decode() if isinstance(row["name"], bytes) else row["name"]
        if name == consumer:
            return int(row["pending"])
    return 0


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    made: list[Instance] = []
    yield made
    for instance in made:
        instance.stop()


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--listen", "nowhere"]) == 2
    assert "--listen" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--claim-idle", "5 min"])
    assert exc.value.code == 2
    assert "invalid duration" in capsys.readouterr().err


def test_healthz_says_redis_is_down_and_stays_up(tmp_path: Path, instances: list[Instance]) -> None:
    instance = Instance(free_port(), "a", tmp_path / "a.log")  # nothing listens there
    instances.append(instance)
    wait_until(lambda: instance.health()["redis"] == "down", timeout=20)
    body = instance.health()
    assert body["status"] == "degraded" and body["error"]
    assert get(instance.port, "/health")[0] == 200
    assert get(instance.port, "/readyz")[0] == 503
    assert instance.proc.poll() is None


@pytest.mark.slow
def test_kill_9_one_of_two_instances_loses_nothing_and_duplicates_nothing(
    redis_server: Server, tmp_path: Path, instances: list[Instance]
) -> None:
    redis = Redis(port=redis_server.port)
    gw = Gateway()
    per_sensor = []
    for n in range(10):
        gw.describe(f"ult-F{n}.temp", FREEZER_ALARMS)
        one = Gateway()
        profile = compressor_failure(1800.0, 0.1) if n == 0 else (lambda s: -80.0)
        freezer(one, f"ult-F{n}.temp", profile, 10_000.0, seed=n)
        per_sensor.append(one.events)
    for batch in zip(*per_sensor, strict=True):
        for event in batch:
            gw.reading(event.subject or "", event.time or T0, event.data["value"])
    assert len(gw.events) == 20_010
    a = Instance(redis_server.port, "a", tmp_path / "a.log", "--batch", "200")
    b = Instance(redis_server.port, "b", tmp_path / "b.log", "--batch", "200")
    instances.extend([a, b])
    wait_until(lambda: redis.exists(STREAM) == 1, timeout=20)
    # b waits (frozen) while a works through the backlog alone, so a holds a batch almost
    # all the time and the backlog outlasts the catching below whatever the machine's speed
    # (with both working, a fast machine drained it before a was caught holding one).
    b.proc.send_signal(signal.SIGSTOP)
    publish(redis, STREAM, gw.events)
    wait_until(lambda: int(a.health()["processed"]) > 2000, timeout=60)  # type: ignore[call-overload]
    held = 0
    for _ in range(1000):  # freeze a while it holds a batch, then kill it
        a.freeze(redis)
        held = pending_of(redis, "a")
        if held or redis.xinfo_groups(STREAM)[0]["lag"] == 0:
            break
        a.proc.send_signal(signal.SIGCONT)
        before = counted(redis)
        wait_until(lambda before=before: counted(redis) > before, timeout=20)  # type: ignore[misc]
    a.stop(signal.SIGKILL)
    b.proc.send_signal(signal.SIGCONT)  # b takes over what a held

    def done() -> bool:
        pending = redis.xpending(STREAM, "tracseq-analytics")["pending"]
        return counted(redis) == len(gw.events) and pending == 0

    wait_until(done, timeout=120)
    episodes = [
        (e.subject, e.data["action"])
        for e in outputs(redis)
        if e.type == ANALYTICS_PREDICTION and e.data["action"] != "updated"
    ]
    assert episodes == [("ult-F0.temp", "raised")]  # one episode, continued across the takeover
    ids = Counter(e.id for e in outputs(redis))
    assert max(ids.values()) == 1
    status, metrics = get(b.port, "/metrics")
    assert status == 200
    text = metrics.decode()
    assert "tracseq_analytics_consumer_lag_events" in text
    assert "tracseq_analytics_processing_latency_seconds_bucket" in text
    assert "tracseq_analytics_pending_events" in text
    claimed = next(
        line for line in text.splitlines() if line.startswith("tracseq_analytics_claimed")
    )
    assert held > 0 and float(claimed.split()[-1]) >= held
