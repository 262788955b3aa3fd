"""The dashboard fed by the whole chain, all real processes: simulator -> mosquitto -> edge
daemon (MQTT driver, durable log, alarm rules) -> sync -> central (uvicorn, SQLite) -> SSE
-> headless Chromium.

A short simulator run (3 ULT freezers, a -20 °C freezer and an incubator at 60x speed,
with a compressor failure on F02) fills central; the tests then check that every
configured sensor has a tile, that one reading published over MQTT reaches its tile within
2 s without a reload, and that the compressor failure's alarm is acknowledged with a
comment by an operator in the browser and shown on the audit page.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.central.conftest import Central, start_central
from tests.dashboard.browser import chromium
from tests.dashboard.conftest import PASSWORD, make_people
from tests.edge.daemon_proc import DaemonProc, start_daemon
from tests.servers import Server, mosquitto, wait_until

pytestmark = pytest.mark.slow  # about 25 s: the simulator plays 10 minutes at 60x

GATEWAY = "test-gw"  # tests/edge/daemon_proc.py's gateway id
ULTS = ["ult-F01.temp", "ult-F02.temp", "ult-F03.temp"]
SENSORS = [*ULTS, "freezer-20a.temp", "incubator-3.temp"]
FAILING = "ult-F02.temp"
# Simulated minutes: F02's compressor dies at 10 s and the cabinet climbs about 1 °C/min
# from -80 ±1.5, so it passes -76 after 3-6 simulated minutes (3-6 s at 60x).
SIMULATOR = ["--speed", "60", "--duration", "10m", "--ult-count", "3",
             "--compressor-failure", "F02@10s",
             "--modbus-port", "none", "--pty-dir", "none"]  # fmt: skip


def edge_config(broker: int, central: str) -> str:
    return f"""\
sync: {{url: "{central}", token_file: gateway.token, interval: 200ms}}
connections:
  broker:
    mqtt: {{url: "mqtt://127.0.0.1:{broker}", client_id: live-stack-gw, qos: 1}}
sensors:
  - id: "ult-{{freezer}}.temp"
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: "lab3/ult/{{freezer}}/telemetry", value: temp_c, time: ts}}
    alarms:
      high: {{above: -76, for: 0s, clear_below: -78}}
  - id: freezer-20a.temp
    kind: freezer
    quantity: temperature
    unit: degC
    source: {{connection: broker, topic: zigbee2mqtt/freezer-20a, value: temperature}}
  - id: incubator-3.temp
    kind: incubator
    quantity: temperature
    unit: degC
    source:
      {{connection: broker, topic: tele/incubator-3/SENSOR, value: DS18B20.Temperature, time: Time}}
"""


@dataclass
class Stack:
    broker: Server
    central: Central
    daemon: DaemonProc
    simulator: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return self.central.url

    def logs(self) -> str:
        """The tails of every process's log, for a failing assertion's message."""
        parts = []
        for name in ("central.log", "edge/daemon.stderr", "simulator.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def simulator_done(self, timeout: float) -> None:
        """Wait for the simulator's bounded run to end (exit 0)."""
        code = self.simulator.wait(timeout=timeout)
        assert code == 0, self.logs()


def _ready(daemon: DaemonProc) -> bool:
    try:
        return httpx.get(f"{daemon.url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def _simulator(workdir: Path, broker: int) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "edge", "simulate",
            "--mqtt-url", f"mqtt://127.0.0.1:{broker}", *SIMULATOR]  # fmt: skip
    with (workdir / "simulator.log").open("wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Broker, central with three people, the edge daemon synced to it, then the simulator.

    Built before the browser: Playwright's sync API runs an event loop in this thread and
    the in-process CLI calls (people, token) use asyncio.run()."""
    workdir = tmp_path_factory.mktemp("live-stack")
    (workdir / "mosquitto").mkdir()
    (workdir / "edge").mkdir()
    db = f"sqlite:///{workdir / 'central.db'}"
    make_people(db, workdir)
    with (
        mosquitto(workdir / "mosquitto") as broker,
        start_central(db, "sqlite", workdir) as central,
    ):
        (workdir / "edge" / "gateway.token").write_text(central.token(GATEWAY) + "\n")
        daemon = start_daemon(workdir / "edge", edge_config(broker.port, central.url))
        try:
            # Subscribed before the simulator starts: its first readings are not missed.
            wait_until(lambda: _ready(daemon) or daemon.proc.poll() is not None, timeout=20)
            assert daemon.proc.poll() is None, daemon.stderr()
            with _simulator(workdir, broker.port) as simulator:
                yield Stack(broker, central, daemon, simulator, workdir)
        finally:
            daemon.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _signed_in(browser: Browser, stack: Stack, name: str) -> BrowserContext:
    """A browser context with `name`'s session cookie (signed in through the API)."""
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        r = client.post("/api/v1/session", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = client.cookies.get("tracseq_session")
    assert cookie
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.add_cookies([{"name": "tracseq_session", "value": cookie, "url": stack.url}])
    return context


@pytest.fixture(scope="module")
def fleet_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = _signed_in(browser, stack, "ada")
    page = context.new_page()
    page.goto(stack.url + "/")
    try:
        yield page
    finally:
        context.close()


def tile(page: Page, sensor: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.tile[data-sensor="{sensor}"]')


@contextlib.contextmanager
def publisher(port: int) -> Iterator[mqtt.Client]:
    """A connected paho client (connected first, so the measured time is the chain's)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="live-stack-test-pub")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_until(client.is_connected, timeout=10)
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_fleet_view_shows_every_simulated_sensor(fleet_page: Page, stack: Stack) -> None:
    page = fleet_page
    expect(page.locator("#live")).to_have_text("● live")
    for sensor in SENSORS:
        # A value with its unit: the simulated readings came through the whole chain.
        expect(tile(page, sensor).locator(".tile-value")).to_contain_text("°C", timeout=20_000)
    expect(page.locator("#gateways tbody")).to_contain_text(GATEWAY)


def test_reading_published_over_mqtt_appears_within_2s_without_reload(
    fleet_page: Page, stack: Stack
) -> None:
    # After the simulator's run nothing else writes to ult-F01 (its own readings would
    # replace ours on the tile within a second).
    stack.simulator_done(timeout=60)
    page = fleet_page
    value = tile(page, "ult-F01.temp").locator(".tile-value")
    expect(value).to_contain_text("°C")
    expect(value).not_to_have_text("-77.7 °C")
    page.evaluate("window.__notReloaded = true")
    with publisher(stack.broker.port) as client:
        payload = {"ts": int(time.time() * 1000), "temp_c": -77.7, "door": "closed"}
        client.publish("lab3/ult/F01/telemetry", orjson.dumps(payload), qos=1)
        # From the publish: broker -> daemon -> log -> sync -> central -> SSE -> tile.
        expect(value).to_have_text("-77.7 °C", timeout=2000)
    assert page.evaluate("window.__notReloaded") is True


def test_simulated_compressor_failure_alarm_is_acknowledged_and_audited(
    browser: Browser, stack: Stack
) -> None:
    context = _signed_in(browser, stack, "olga")
    try:
        page = context.new_page()
        page.goto(stack.url + "/alarms")
        expect(page.locator("#live")).to_have_text("● live")
        card = page.locator(f'#active article[data-subject="{FAILING}"]')
        alarm = card.locator(f'li[data-alarm-id^="{GATEWAY}:{FAILING}:high:"]')
        expect(alarm).to_have_count(1, timeout=20_000)
        alarm_id = alarm.get_attribute("data-alarm-id")
        assert alarm_id
        for other in (s for s in SENSORS if s != FAILING):
            expect(page.locator(f'li[data-alarm-id^="{GATEWAY}:{other}:"]')).to_have_count(0)
        comment = "F02 compressor dead; samples moved to F03"
        card.get_by_label("Comment").fill(comment)
        card.get_by_role("button", name="Acknowledge").click()
        expect(card.locator(".ack-comment")).to_have_text(comment)
        expect(card.locator(".ack-by")).to_have_text("olga")
        page.goto(stack.url + "/audit")
        row = page.locator("#audit tbody tr").filter(has_text="alarm.ack").first
        expect(row).to_contain_text("user:olga")
        expect(row).to_contain_text(alarm_id)
        expect(row).to_contain_text(comment)
        expect(page.locator("#chain")).to_contain_text("Chain intact")
    finally:
        context.close()
