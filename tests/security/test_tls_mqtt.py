"""MQTT over TLS with a throwaway CA made in the test, against a private mosquitto.

The driver (mqtts:// with ca_file, optionally cert_file/key_file and a password file)
connects and receives; a wrong CA or a missing client certificate is a clear
`disconnected` state in health, retried with backoff (no crash), and once the operator
puts the right file in place the next retry connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt import MqttDriver
from edge.log import DurableLog
from edge.pipeline import Pipeline
from edgeconfig import Mqtt
from runtime.clock import SystemClock
from tests import servers
from tests.drivers.mqtt_support import contract_sensors, until
from tests.security.tls import Pki, make_pki

PASSWORD = "mqtt-pa55-Zq81"  # a test secret
TOPIC = "lab3/ult/F12/telemetry"  # the contract's ult-{freezer}.temp sensor


@contextlib.contextmanager
def tls_broker(workdir: Path, pki: Pki, *, client_certs: bool) -> Iterator[servers.Server]:
    """mosquitto with only a TLS listener and a password file; optionally client certs."""
    workdir.mkdir(parents=True, exist_ok=True)
    passwd = workdir / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), "edge", PASSWORD],
        check=True,
        capture_output=True,
    )
    port = servers.free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nuser root\nallow_anonymous false\n"
        f"password_file {passwd}\ncafile {pki.ca}\ncertfile {pki.server_cert}\n"
        f"keyfile {pki.server_key}\n"
        f"require_certificate {'true' if client_certs else 'false'}\nlog_dest stdout\n"
    )
    server = servers.Server(
        [servers._binary("mosquitto"), "-c", str(conf)], port, workdir, workdir / "broker.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    try:
        return make_pki(tmp_path / "pki")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make test certificates: {exc}")


def publish(port: int, pki: Pki, payload: bytes) -> None:
    """One QoS 1 message over TLS with the client certificate (accepted by both brokers)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-publisher")
    client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.client_key))
    client.username_pw_set("edge", PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(TOPIC, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.asynccontextmanager
async def driving(tmp: Path, mqtt: Mqtt) -> AsyncIterator[tuple[MqttDriver, DurableLog]]:
    """The driver into a real pipeline and log, NOT waiting for it to connect."""
    log = DurableLog.open(tmp / "log.sqlite")
    driver = MqttDriver("lab-broker", mqtt, contract_sensors(), SystemClock())
    task = asyncio.create_task(driver.run(Pipeline(log)))
    try:
        yield driver, log
        assert not task.done(), "the driver task ended instead of retrying"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await log.close()


def settings(port: int, tmp: Path, ca_file: Path, **extra: object) -> Mqtt:
    password_file = tmp / "mqtt.password"
    password_file.write_text(PASSWORD + "\n")
    return Mqtt.model_validate(
        {
            "url": f"mqtts://127.0.0.1:{port}",
            "client_id": "tls-edge",
            "username": "edge",
            "password_file": password_file,
            "ca_file": ca_file,
            **extra,
        }
    )


def test_a_wrong_ca_is_a_clear_retried_error_and_the_right_one_connects(
    tmp_path: Path, pki: Pki
) -> None:
    ca_file = tmp_path / "broker-ca.pem"
    shutil.copy(pki.wrong_ca, ca_file)  # the operator installed the wrong CA first
    with tls_broker(tmp_path, pki, client_certs=False) as broker:

        async def scenario() -> None:
            async with driving(tmp_path, settings(broker.port, tmp_path, ca_file)) as (driver, log):
                await until(lambda: "CERTIFICATE_VERIFY_FAILED" in driver.health().detail, 15)
                assert driver.health().state == "disconnected"
                assert driver.health().detail.startswith(f"mqtts://127.0.0.1:{broker.port}")
                shutil.copy(pki.ca, ca_file)  # fixed while the daemon runs: the retry connects
                await until(lambda: driver.health().state == "connected", 20)
                payload = orjson.dumps({"ts": 1_767_225_600_000, "temp_c": -80.2})
                await asyncio.to_thread(publish, broker.port, pki, payload)
                await until(lambda: log.last_seq == 1)
                [stored] = log.read_now(0, 10)
            assert (stored.subject, stored.data["value"]) == ("ult-F12.temp", -80.2)

        asyncio.run(scenario())


def test_client_certificate_required_by_the_broker(tmp_path: Path, pki: Pki) -> None:
    with tls_broker(tmp_path, pki, client_certs=True) as broker:

        async def scenario() -> None:
            without = settings(broker.port, tmp_path, pki.ca)
            async with driving(tmp_path / "no-cert", without) as (driver, _):
                await until(lambda: driver.health().state == "disconnected", 20)
                assert "set cert_file and key_file" in driver.health().detail
            with_cert = settings(
                broker.port, tmp_path, pki.ca, cert_file=pki.client_cert, key_file=pki.client_key
            )
            async with driving(tmp_path, with_cert) as (driver, log):
                await until(lambda: driver.health().state == "connected", 15)
                await asyncio.to_thread(publish, broker.port, pki, b'{"temp_c": -79.5}')
                await until(lambda: log.last_seq == 1)

        asyncio.run(scenario())
