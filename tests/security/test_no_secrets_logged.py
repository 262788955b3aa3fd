"""Tokens and passwords never appear in logs.

The daemon (`tracseq-edge run`) runs with a known secret in each place one can be: the
sync token (TRACSEQ_SYNC_TOKEN and sync.token_file), the MQTT password file, a Redis URL
with a password and the intake token; every one of them is refused somewhere, so the
failure paths log. Central runs at DEBUG and is sent right and wrong tokens. Nothing
captured (stderr of both, and caplog of an in-process uploader at DEBUG) holds a secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sim.local_servers import redis_server
from tests.security.central_server import central
from tests.security.test_tls_mqtt import tls_broker
from tests.security.tls import make_pki
from tests.servers import Server, free_port, wait_until
from tests.sync.conftest import (
    fast_uploader,
    opened_log,
    readings,
    run,
    running,
    sync_config,
    until,
)

SYNC_ENV = "tsg_ENVsecret-0d5c9a7e41"
SYNC_FILE = "tsg_FILEsecret-7b21e0aa93"
MQTT_PASSWORD = "mqttSECRET-5e8f01"
REDIS_PASSWORD = "redisSECRET-c3a9d2"
INTAKE = "intakeSECRET-91b7f4"
WRONG_INTAKE = "wrongINTAKE-66a0c1"
SECRETS = (SYNC_ENV, SYNC_FILE, MQTT_PASSWORD, REDIS_PASSWORD, INTAKE, WRONG_INTAKE)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@contextlib.contextmanager
def redis_with_password(workdir: Path) -> Iterator[Server]:
    """A redis-server whose password is not ours: the publisher's AUTH fails and logs."""
    workdir.mkdir(parents=True, exist_ok=True)
    with redis_server(workdir, password="other") as server:
        yield server


def test_the_daemon_and_central_never_log_a_secret(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    write(tmp_path / "sync.token", SYNC_FILE + "\n")
    write(tmp_path / "mqtt.password", MQTT_PASSWORD + "\n")
    write(tmp_path / "intake.token", INTAKE + "\n")
    port = free_port()
    with (
        redis_with_password(tmp_path / "redis") as redis_server,
        tls_broker(tmp_path / "broker", pki, client_certs=False) as broker,
        central(tmp_path / "central") as server,
    ):
        config = write(
            tmp_path / "sensors.yaml",
            f"""
gateway:
  id: secret-gw
  data_dir: ./var
  listen: 127.0.0.1:{port}
  intake_token_file: ./intake.token
redis:
  url: redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_server.port}/0
sync:
  url: {server.url}
  token_file: ./sync.token
  interval: 100ms
connections:
  broker:
    mqtt:
      url: mqtts://127.0.0.1:{broker.port}
      ca_file: {pki.ca}
      username: edge
      password_file: ./mqtt.password
sensors:
  - id: t1
    kind: room
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: lab/t1}}
""",
        )
        env = {**os.environ, "TRACSEQ_SYNC_TOKEN": SYNC_ENV}
        stderr = tmp_path / "daemon.log"
        with stderr.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "-c", str(config), "--log-format", "json"],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            expected = ("CENTRAL REFUSES", "Redis publishing", "MQTT connection broker")
            wait_until(lambda: all(w in stderr.read_text() for w in expected), timeout=30)
            url = f"http://127.0.0.1:{port}/api/v1/events"
            for token, status in ((WRONG_INTAKE, 401), (INTAKE, 400)):
                headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
                assert httpx.post(url, content=b"[{]", headers=headers).status_code == status
            wrong = {"authorization": f"Bearer {SYNC_FILE}", "content-type": "application/json"}
            httpx.post(f"{server.url}/api/v1/ingest", content=b"[]", headers=wrong)
            right = {"authorization": f"Bearer {server.token('gw-x')}"}
            httpx.post(f"{server.url}/api/v1/ingest", content=b"[1]", headers=right)
            httpx.get(f"{server.url}/api/v1/sensors", headers=right)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        daemon_log, central_log = stderr.read_text(), server.output
    assert leaked(daemon_log) == [], daemon_log[-3000:]
    assert leaked(central_log) == [], central_log[-3000:]
    assert right["authorization"].split()[-1] not in central_log


def test_the_uploader_never_logs_its_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACSEQ_SYNC_TOKEN", SYNC_ENV)
    caplog.set_level(logging.DEBUG)
    with central(tmp_path / "central") as server:
        config = sync_config(tmp_path, server.url, write(tmp_path / "token", SYNC_FILE))

        async def scenario() -> None:
            async with opened_log(tmp_path) as log:
                await log.append(readings(5))
                uploader = fast_uploader(config, log)
                async with running(uploader):
                    await until(lambda: "CENTRAL REFUSES" in caplog.text)

        run(scenario)
        central_log = server.output
    assert leaked(caplog.text) == [], caplog.text[-3000:]
    assert leaked(central_log) == []
