"""`tracseq-edge demo`: the whole stack on one machine, stopped cleanly with Ctrl-C.

Mosquitto and redis-server are used when already running on their default ports, else
started privately in the demo directory; then central (SQLite) with the dashboard, the
analytics processor, the simulated fleet (with a scripted door opening and compressor
failure) and the edge daemon on the repository's sensors.yaml adapted to those ports.
Central gets a notifications file and a local SMTP catcher (sim/mailcatcher.py), so the
compressor failure arrives as an e-mail: each message is a `.eml` file in `<dir>/mail`.
Prints the dashboard URL, a login and the mail folder, then a line for each alarm raised,
acknowledged, cleared and notified (sim/demo_alarms.py).
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from runtime.cli_args import ArgumentParser
from runtime.private_files import write_private
from sim.demo_alarms import AlarmLog
from sim.local_servers import free_port, mosquitto, redis_server, wait_for_port
from sim.mailcatcher import MailCatcher

REPO_CONFIG = Path(__file__).resolve().parent.parent / "sensors.yaml"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _port_or_free(preferred: int) -> int:
    return free_port() if _port_open(preferred) else preferred


def _entry() -> list[str]:
    return [sys.executable, "-m", "edge"]


def _command(args: list[str]) -> str:
    """Run a tracseq-edge command and return its output's last word (tokens, keys)."""
    out = subprocess.run([*_entry(), *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"tracseq-edge {' '.join(args[:3])} failed: {out.stderr.strip()}")
    return out.stdout.split()[-1]


@contextlib.contextmanager
def _broker(directory: Path, private: bool) -> Iterator[int]:
    if not private and _port_open(1883):
        yield 1883
        return
    directory.mkdir(parents=True, exist_ok=True)
    with mosquitto(directory) as server:
        yield server.port


@contextlib.contextmanager
def _redis(directory: Path, private: bool) -> Iterator[int]:
    if not private and _port_open(6379):
        yield 6379
        return
    directory.mkdir(parents=True, exist_ok=True)
    with redis_server(directory) as server:
        yield server.port


def write_config(
    directory: Path, *, mqtt: int, redis: int, central: str, modbus: int, listen: int
) -> Path:
    """The repository's sensors.yaml, pointed at the demo's ports, in `directory`."""
    text = REPO_CONFIG.read_text()
    for old, new in (
        ("mqtt://127.0.0.1:1883", f"mqtt://127.0.0.1:{mqtt}"),
        ("redis://127.0.0.1:6379/0", f"redis://127.0.0.1:{redis}/0"),
        ("http://127.0.0.1:8095", central),
        ("tcp://127.0.0.1:5020", f"tcp://127.0.0.1:{modbus}"),
        ("listen: 127.0.0.1:8087", f"listen: 127.0.0.1:{listen}"),
    ):
        text = text.replace(old, new)
    path = directory / "sensors.yaml"
    path.write_text(text)
    return path


DEMO_NOTIFICATIONS = """\
# The demo's notifications (docs/notifications.md): every alarm and early warning is
# mailed to the on-call address; the demo's SMTP catcher keeps each message in {folder}.
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {port}, security: none,
           from: "TracSeq demo <alarms@demo.example>"}}
groups:
  on-call: [admin, "oncall@demo.example"]
defaults: {{group_wait: 10s, base_url: "{central}"}}
policies:
  - name: every-alarm
    levels:
      - after: 0s
        notify: [{{channel: mail, to: [group:on-call]}}]
        repeat: 15m
    also_on: [acknowledged, cleared]
  - name: early-warnings
    match: {{event: prediction}}
    levels: [{{after: 0s, notify: [{{channel: mail, to: [group:on-call]}}]}}]
"""


def write_notifications(directory: Path, *, smtp_port: int, central: str) -> Path:
    """The demo's notifications file: every alarm to the local SMTP catcher."""
    path = directory / "notifications.yaml"
    folder = directory / "mail"
    path.write_text(DEMO_NOTIFICATIONS.format(port=smtp_port, central=central, folder=folder))
    return path


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="tracseq-edge demo", description=__doc__)
    parser.add_argument(
        "--dir", default="demo-data", help="working directory (default ./demo-data)"
    )
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per second")
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="always start our own mosquitto and redis-server (never use running ones)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if not REPO_CONFIG.exists():
        print("tracseq-edge demo: run it from a checkout (sensors.yaml not found)", file=sys.stderr)
        return 2
    directory = Path(args.dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    log_format = ["--log-format", args.log_format or "text"]
    try:
        with (
            _broker(directory / "mosquitto", args.private_servers) as mqtt_port,
            _redis(directory / "redis", args.private_servers) as redis_port,
            MailCatcher(_port_or_free(2525), directory / "mail") as mailbox,
        ):
            central_port = _port_or_free(8095)
            central_url = f"http://127.0.0.1:{central_port}"
            db = f"sqlite:///{directory / 'central.db'}"
            secrets_dir = directory / "secrets"
            secrets_dir.mkdir(mode=0o700, exist_ok=True)
            gateway_token = _command(["central", "token", "create", "lab3-edge-01", "--db", db])
            write_private(secrets_dir / "gateway.token", gateway_token + "\n")
            write_private(secrets_dir / "intake.token", secrets.token_urlsafe(24) + "\n")
            analytics_token = _command(
                ["central", "token", "create", "demo-analytics", "--analytics", "--db", db]
            )
            write_private(secrets_dir / "analytics.token", analytics_token + "\n")
            login = _create_admin(db, secrets_dir)
            modbus_port = _port_or_free(5020)
            edge_port = _port_or_free(8087)
            config = write_config(
                directory,
                mqtt=mqtt_port,
                redis=redis_port,
                central=central_url,
                modbus=modbus_port,
                listen=edge_port,
            )
            logs = directory / "logs"
            logs.mkdir(exist_ok=True)

            def start(name: str, argv: list[str]) -> None:
                with (logs / f"{name}.log").open("ab") as out:  # the child keeps its own copy
                    proc = subprocess.Popen([*_entry(), *argv, *log_format], stdout=out,
                                            stderr=out, cwd=directory,
                                            start_new_session=True)  # fmt: skip
                children.append((name, proc))

            notifications = write_notifications(
                directory, smtp_port=mailbox.port, central=central_url
            )
            start("central", ["central", "--db", db, "--listen", f"127.0.0.1:{central_port}",
                              "--notifications", str(notifications)])  # fmt: skip
            wait_for_port(central_port, timeout=30)
            analytics_port = _port_or_free(8097)
            start("analytics", [
                "analytics", "--redis", f"redis://127.0.0.1:{redis_port}/0",
                "--listen", f"127.0.0.1:{analytics_port}", "--instance", "demo-analytics",
                "--central", central_url,
                "--central-token-file", str(secrets_dir / "analytics.token"),
            ])  # fmt: skip
            start("simulator", [
                "simulate", "--mqtt-url", f"mqtt://127.0.0.1:{mqtt_port}",
                "--modbus-port", str(modbus_port), "--pty-dir", str(directory / "var" / "sim"),
                "--speed", str(args.speed),
                "--door-open", "F05@2m:4m", "--compressor-failure", "F03@5m",
            ])  # fmt: skip
            start("edge", ["run", "-c", str(config)])
            wait_for_port(edge_port, timeout=30)
            print(f"Dashboard: {central_url}/", flush=True)
            if login:
                print(f"Login: {login[0]} / {login[1]}", flush=True)
            print(
                f"Edge: http://127.0.0.1:{edge_port}/readyz  Analytics: "
                f"http://127.0.0.1:{analytics_port}/healthz  Logs: {logs}",
                flush=True,
            )
            print(
                f"Mail: alarm e-mails arrive as .eml files in {directory / 'mail'} "
                f"(SMTP catcher on 127.0.0.1:{mailbox.port})",
                flush=True,
            )
            print("Ctrl-C stops everything.", flush=True)
            alarm_log = _alarm_log(db, central_url)
            try:
                while not stop["now"]:
                    for name, proc in children:
                        if proc.poll() is not None:
                            print(f"{name} exited with {proc.returncode}; see {logs}/{name}.log")
                            stop["now"] = True
                    if alarm_log is not None:
                        alarm_log.poll()
                    time.sleep(0.2)
            finally:
                if alarm_log is not None:
                    alarm_log.close()
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"tracseq-edge demo: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all(children)
    return 0


def _alarm_log(db: str, central_url: str) -> AlarmLog | None:
    """The alarm lines' reader (a viewer API key of its own), or None with a note."""
    try:
        key = _command(["central", "apikey", "create", f"demo-terminal-{secrets.token_hex(3)}",
                        "--role", "viewer", "--db", db])  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"(alarms will not be printed here: {exc})", flush=True)
        return None
    return AlarmLog(central_url, key, lambda line: print(line, flush=True))


def _create_admin(db: str, secrets_dir: Path) -> tuple[str, str] | None:
    """An admin login for the dashboard, or None when this build has no users yet."""
    password = secrets.token_urlsafe(12)
    password_file = secrets_dir / "admin.password"
    write_private(password_file, password + "\n")  # 0600 from the first byte
    try:
        _command(["central", "user", "create", "admin", "--role", "admin",
                  "--password-file", str(password_file), "--email", "admin@demo.example",
                  "--db", db])  # fmt: skip
    except RuntimeError as exc:
        if "exists" in str(exc):
            return ("admin", "(unchanged; see secrets/admin.password of the first run)")
        return None
    return ("admin", password)


def _stop_all(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Edge first (it flushes its log), then the rest; SIGKILL after 10 s."""
    for _, proc in reversed(children):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
