"""The daemon as operators see it: signals, reload, readiness, exit codes, systemd."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from runtime import events
from tests.edge.daemon_proc import REPO, start_daemon
from tests.servers import wait_until

TOKEN = {"Authorization": "Bearer test-intake-token"}


def batch(client: int, n: int, size: int = 50) -> bytes:
    return orjson.dumps(
        [
            {
                "specversion": "1.0",
                "id": f"c{client}-{n}-{i}",
                "source": f"lims/{client}",
                "type": "org.tracseq.lims.sample_moved",
                "time": "2026-11-24T10:00:00.000Z",
                "data": {"n": n, "i": i},
            }
            for i in range(size)
        ]
    )


def stored_original_ids(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "log.db") as conn:
        rows = conn.execute("SELECT data FROM entries WHERE type LIKE 'org.tracseq.lims%'")
        return {orjson.loads(row[0])["original_id"] for row in rows}


def test_sigterm_during_a_flood_exits_0_within_5s_with_every_acknowledged_event_on_disk(
    tmp_path: Path,
) -> None:
    daemon = start_daemon(tmp_path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def flood(client: int) -> None:
        with httpx.Client(base_url=daemon.url, timeout=5) as http:
            n = 0
            while not stop.is_set():
                body = batch(client, n)
                try:
                    response = http.post(
                        "/api/v1/events",
                        content=body,
                        headers={**TOKEN, "Content-Type": events.BATCH_MEDIA_TYPE},
                    )
                except httpx.HTTPError:
                    return  # the daemon is going away: this batch was never acknowledged
                if response.status_code == 202:
                    acknowledged.extend(e["id"] for e in orjson.loads(body))
                n += 1

    threads = [threading.Thread(target=flood, args=(c,)) for c in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 2000, timeout=30)
    began = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.proc.wait(timeout=10)
    took = time.monotonic() - began
    stop.set()
    for thread in threads:
        thread.join()
    assert code == 0, daemon.stderr()
    assert took < 5.0, f"took {took:.1f}s to stop"
    on_disk = stored_original_ids(tmp_path / "var")
    missing = set(acknowledged) - on_disk
    assert not missing, f"{len(missing)} acknowledged events are not on disk"
    with sqlite3.connect(tmp_path / "var" / "log.db") as conn:
        types = [row[0] for row in conn.execute("SELECT type FROM entries ORDER BY seq")]
    assert types[0] == events.GATEWAY_STARTED
    assert events.GATEWAY_STOPPED in types


def test_readyz_and_metrics_describe_the_running_daemon(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        ready = httpx.get(f"{daemon.url}/readyz", timeout=5).json()
        assert {"rules", "gateway-events", "http"} <= set(ready["components"])
        assert ready["log"]["last_seq"] >= 1
        assert httpx.get(f"{daemon.url}/health", timeout=5).status_code == 200
        metrics = httpx.get(f"{daemon.url}/metrics", timeout=5).text
        assert "tracseq_edge_log_last_seq" in metrics
    finally:
        assert daemon.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_running_one(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        good = daemon.config.read_text()
        daemon.config.write_text(good.replace("heartbeat: 1s", "heartbeat: 1 sec"))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload rejected" in daemon.stderr(), timeout=10)
        assert f"{daemon.config}:3:14: gateway.heartbeat: invalid duration '1 sec'" in (
            daemon.stderr()
        )
        assert daemon.proc.poll() is None
        assert httpx.get(f"{daemon.url}/healthz", timeout=5).status_code == 200
    finally:
        assert daemon.stop() == 0


def test_sighup_with_a_valid_config_applies_it(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        daemon.config.write_text(
            daemon.config.read_text()
            + "connections:\n  plc:\n    modbus: {url: 'tcp://127.0.0.1:9', timeout: 200ms}\n"
            + "sensors:\n  - {id: room.temp, kind: room, quantity: temperature, unit: degC,\n"
            + "     source: {connection: plc, register: input 1, poll: 1s}}\n"
        )
        daemon.signal(signal.SIGHUP)

        def has_driver() -> bool:
            try:
                body = httpx.get(f"{daemon.url}/readyz", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return False
            return "driver:plc" in body["components"]

        wait_until(has_driver, timeout=15)
    finally:
        assert daemon.stop() == 0


def test_a_bad_config_exits_2_with_the_message_once(tmp_path: Path) -> None:
    config = tmp_path / "sensors.yaml"
    config.write_text("gateway:\n  id: gw\n  heartbeat: soon\n")
    result = subprocess.run(
        [sys.executable, "-m", "edge", "run", "-c", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    line = f"{config}:3:14: gateway.heartbeat: invalid duration 'soon' (use e.g. 5m)"
    assert result.stderr.count(line) == 1
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_runtime_failure(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        from tests.edge.daemon_proc import write_config

        config, _ = write_config(tmp_path, port=port)
        result = subprocess.run(
            [sys.executable, "-m", "edge", "run", "-c", str(config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr


def test_systemd_notify_ready_then_watchdog_pings(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    daemon = start_daemon(
        tmp_path, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}, wait=False
    )
    try:
        messages: list[str] = []
        while sum("WATCHDOG=1" in m for m in messages) < 3:
            messages.append(sock.recv(4096).decode())
        ready_at = next(i for i, m in enumerate(messages) if "READY=1" in m)
        assert any("WATCHDOG=1" in m for m in messages[ready_at + 1 :])
    finally:
        code = daemon.stop()
        sock.close()
    assert code == 0
    assert os.path.exists(tmp_path / "var" / "log.db")


def test_fifty_sighup_reloads_keep_the_http_listener_answering(tmp_path: Path) -> None:
    # A reload used to cancel uvicorn without its shutdown: the old listener stayed in the
    # event loop's selector, and a new one that reused its fd number never answered.
    daemon = start_daemon(tmp_path)
    try:
        for reload in range(1, 51):
            daemon.signal(signal.SIGHUP)
            wait_until(
                lambda n=reload: daemon.stderr().count(" running: ") > n or daemon.proc.poll(),
                timeout=15,
            )
            assert daemon.proc.poll() is None, daemon.stderr()
            for path in ("/healthz", "/readyz", "/metrics"):
                response = httpx.get(f"{daemon.url}{path}", timeout=5)
                assert response.status_code == 200, (reload, path)
    finally:
        assert daemon.stop() == 0
