"""Notification fixtures: a real SMTP server (aiosmtpd), a real webhook receiver checking the
HMAC signature, a notifications file, and central running with it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from runtime import events as ev
from sim.mailcatcher import MailCatcher
from tests.central.conftest import Central, event, gateway_name, start_central
from tests.servers import free_port

SECRET = "hook-secret-for-tests"


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | list[Any]
    signed: bool


@dataclass
class HookReceiver:
    port: int
    secret: str | None
    received: list[Hook] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hooks(self) -> list[Hook]:
        with self.lock:
            return list(self.received)


def _handler(receiver: HookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            sent = self.headers.get("X-TracSeq-Signature", "")
            signed = False
            if receiver.secret is not None:
                want = (
                    "sha256=" + hmac.new(receiver.secret.encode(), raw, hashlib.sha256).hexdigest()
                )
                signed = hmac.compare_digest(sent, want)
            with receiver.lock:
                receiver.received.append(
                    Hook(self.path, dict(self.headers), orjson.loads(raw), signed)
                )
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            with receiver.lock:
                receiver.received.append(Hook(self.path, dict(self.headers), {}, False))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver(free_port(), SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(free_port()) as catcher:
        yield catcher


def write_config(directory: Path, text: str) -> Path:
    (directory / "hook.secret").write_text(SECRET + "\n")
    path = directory / "notifications.yaml"
    path.write_text(text)
    return path


def basic_config(
    smtp_port: int,
    hook_url: str | None = None,
    *,
    group_wait: str = "300ms",
    levels: str | None = None,
    also_on: str = "[acknowledged, cleared]",
    extra_channels: str = "",
) -> str:
    chat = (
        f'  chat:\n    webhook: {{url: "{hook_url}/hook", format: json, '
        "secret_file: hook.secret}\n"
        if hook_url
        else ""
    )
    levels = levels or (
        "      - after: 0s\n"
        "        notify: [{channel: mail, to: [group:cold-room-team]}"
        + (", {channel: chat}" if hook_url else "")
        + "]\n"
    )
    return (
        "channels:\n"
        "  mail:\n"
        f"    smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        '           from: "TracSeq alarms <alarms@lab.example>", timeout: 5s}\n'
        f"{chat}{extra_channels}"
        "groups:\n"
        '  cold-room-team: [ada, "bob@lab.example"]\n'
        f'defaults: {{group_wait: {group_wait}, base_url: "https://tracseq.lab.example"}}\n'
        "policies:\n"
        "  - name: freezers\n"
        '    match: {kind: [freezer, ln2], site: "building-a/*", rule: [high, low, offline]}\n'
        "    levels:\n"
        f"{levels}"
        f"    also_on: {also_on}\n"
    )


@contextlib.contextmanager
def central_with(
    tmp_path: Path, config: Path, db: str | None = None, backend: str = "sqlite", *extra: str
) -> Iterator[Central]:
    db = db or f"sqlite:///{tmp_path / 'central.db'}"
    with start_central(db, backend, tmp_path, "--notifications", str(config), *extra) as central:
        yield central


@contextlib.contextmanager
def fast_central(
    workdir: Path, config: Path, every: float = 0.3, db: str | None = None, backend: str = "sqlite"
) -> Iterator[Central]:
    """Central whose Alertmanager refresh comes every `every` seconds (not every minute)."""
    db = db or f"sqlite:///{workdir / 'central.db'}"
    cli = [sys.executable, "-m", "tests.notify.fast_refresh", str(every)]
    with start_central(db, backend, workdir, "--notifications", str(config), cli=cli) as central:
        yield central


def create_user(central: Central, name: str, email: str) -> None:
    response = central.post(
        "/api/v1/users",
        {"name": name, "role": "operator", "password": "a long enough password", "email": email},
        role="admin",
    )
    assert response.status_code == 201, response.text


@dataclass
class Lab:
    """A gateway with described freezers, raising alarms through ingest."""

    central: Central
    gateway: str = field(default_factory=gateway_name)
    seq: int = 0
    token: str = ""

    def __post_init__(self) -> None:
        self.token = self.central.token(self.gateway)

    def describe(self, *sensors: str, kind: str = "freezer", site: str = "building-a/r1") -> None:
        events = []
        for sensor in sensors:
            self.seq += 1
            events.append(
                event(
                    self.gateway,
                    self.seq,
                    ev.SENSOR_DESCRIBED,
                    sensor,
                    kind=kind,
                    quantity="temperature",
                    unit="degC",
                    site=site,
                    protocol="mqtt",
                    alarms={"high": {"above": -70}},
                )
            )
        self.send(events)

    def raise_alarm(self, sensor: str, value: float = -61.5) -> str:
        alarm_id = f"{self.gateway}:{sensor}:high:{self.seq + 1}"
        self.raise_many([(sensor, alarm_id, value)])
        return alarm_id

    def raise_many(self, alarms: list[tuple[str, str, float]]) -> None:
        events = []
        for sensor, alarm_id, value in alarms:
            self.seq += 1
            events.append(
                event(
                    self.gateway,
                    self.seq,
                    ev.ALARM_RAISED,
                    sensor,
                    rule="high",
                    threshold=-70.0,
                    value=value,
                    since=ev.format_time(time.time()),
                    alarm_id=alarm_id,
                )
            )
        self.send(events)

    def clear(self, sensor: str, alarm_id: str) -> None:
        self.seq += 1
        self.send(
            [
                event(
                    self.gateway,
                    self.seq,
                    ev.ALARM_CLEARED,
                    sensor,
                    rule="high",
                    value=-75.0,
                    since=ev.format_time(time.time()),
                    alarm_id=alarm_id,
                    duration_s=5.0,
                )
            ]
        )

    def send(self, events: list[dict[str, Any]]) -> None:
        response = self.central.ingest(self.token, events)
        assert response.status_code == 200, response.text


def notifications(central: Central, **params: Any) -> list[dict[str, Any]]:
    response = central.get("/api/v1/notifications", **params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["notifications"]
    return rows
