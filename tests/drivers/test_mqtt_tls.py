"""TLS with a private CA and a client certificate, username + password file, against a
real mosquitto that requires all three; a wrong password is retried and shown in health."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeconfig import Mqtt
from tests import servers
from tests.drivers.mqtt_support import contract_sensors, running, until


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(tmp: Path) -> None:
    """ca.crt, server.crt/key (CN and SAN 127.0.0.1), client.crt/key signed by the CA."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=tracseq-test-ca", cwd=tmp,
    )  # fmt: skip
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "san.ext"]), ("client", [])):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={'127.0.0.1' if name == 'server' else name}",
            cwd=tmp,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=tmp,
        )  # fmt: skip


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[servers.Server]:
    certs = tmp_path / "certs"
    certs.mkdir()
    try:
        _certificates(certs)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make test certificates: {exc}")
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(certs / "passwd"), "edge", "s3cret"], check=True
    )
    port = servers.free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nuser root\nallow_anonymous false\n"
        f"password_file {certs / 'passwd'}\ncafile {certs / 'ca.crt'}\n"
        f"certfile {certs / 'server.crt'}\nkeyfile {certs / 'server.key'}\n"
        "require_certificate true\nlog_dest stdout\n"
    )
    server = servers.Server(
        [servers._binary("mosquitto"), "-c", str(conf)], port, tmp_path, tmp_path / "broker.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _settings(port: int, certs: Path, password_file: Path) -> Mqtt:
    return Mqtt(
        url=f"mqtts://127.0.0.1:{port}",
        client_id="tls-edge",
        username="edge",
        password_file=password_file,
        ca_file=certs / "ca.crt",
        cert_file=certs / "client.crt",
        key_file=certs / "client.key",
    )


def _publish_tls(port: int, certs: Path, topic: str, payload: bytes) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-publisher")
    client.tls_set(
        ca_certs=str(certs / "ca.crt"),
        certfile=str(certs / "client.crt"),
        keyfile=str(certs / "client.key"),
    )
    client.username_pw_set("edge", "s3cret")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_tls_client_certificate_and_password_file(
    tls_broker: servers.Server, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    password = tmp_path / "mqtt.password"
    password.write_text("s3cret\n")

    async def scenario() -> None:
        mqtt = _settings(tls_broker.port, certs, password)
        async with running(tmp_path, mqtt, contract_sensors()) as run:
            assert run.driver.health().detail.startswith("mqtts://127.0.0.1:")
            payload = orjson.dumps({"ts": 1_767_225_600_000, "temp_c": -80.2})
            await asyncio.to_thread(
                _publish_tls, tls_broker.port, certs, "lab3/ult/F12/telemetry", payload
            )
            await until(lambda: run.count() == 1)
            [(subject, _, data)] = run.rows()
        assert (subject, data["value"]) == ("ult-F12.temp", -80.2)

    asyncio.run(scenario())


def test_a_wrong_password_is_retried_and_shown(tls_broker: servers.Server, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    password = tmp_path / "mqtt.password"
    password.write_text("wrong\n")

    async def scenario() -> None:
        from drivers.mqtt import MqttDriver
        from edge.log import DurableLog
        from edge.pipeline import Pipeline
        from runtime.clock import SystemClock

        log = DurableLog.open(tmp_path / "log.sqlite")
        mqtt = _settings(tls_broker.port, certs, password)
        driver = MqttDriver("lab-broker", mqtt, contract_sensors(), SystemClock())
        task = asyncio.create_task(driver.run(Pipeline(log)))
        try:
            await until(lambda: "refused" in driver.health().detail)
            assert driver.health().state == "disconnected"
            assert "check username, password_file" in driver.health().detail
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await log.close()

    asyncio.run(scenario())
