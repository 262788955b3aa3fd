"""Retake the README's dashboard screenshots (docs/img/) from `tracseq-edge demo`.

    .venv/bin/python -m tests.dashboard.screenshots [--speed 30]

Runs the demo in a temporary directory with its own mosquitto and redis-server, waits
until the scripted compressor failure (ult-F03) has raised its rate and high alarms
(about 6 minutes), acknowledges the first one as the demo's admin, and photographs the
fleet view, the alarms page and the failing freezer's sensor page at 1366 x 900 with
headless Chromium: what a visitor of the demo sees, not the security tests' fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.dashboard.browser import chromium

REPO = Path(__file__).resolve().parents[2]
IMG = REPO / "docs" / "img"
FAILING = "ult-F03.temp"


@contextlib.contextmanager
def demo(directory: Path, speed: float) -> Iterator[tuple[str, str, str]]:
    """The running demo: (dashboard URL, admin password, database URL)."""
    argv = [sys.executable, "-m", "edge", "demo", "--dir", str(directory), "--private-servers",
            "--speed", str(speed)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = password = ""
        for line in proc.stdout:
            print(line, end="")
            if line.startswith("Dashboard: "):
                url = line.split()[1].rstrip("/")
            elif line.startswith("Login: "):
                password = line.split(" / ", 1)[1].strip()
            elif line.startswith("Ctrl-C"):
                break
        if not url or not password:
            raise SystemExit("the demo printed no dashboard URL or login")
        yield url, password, f"sqlite:///{directory / 'central.db'}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for_alarms(client: httpx.Client, count: int, deadline: float) -> list[dict[str, Any]]:
    """The failing freezer's active alarms, once there are `count` (or at the deadline)."""
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alarms = client.get("/api/v1/alarms").json()["alarms"]
        found = [a for a in alarms if a["subject"] == FAILING]
        if len(found) >= count:
            break
        time.sleep(1)
    if not found:
        raise SystemExit(f"no alarm on {FAILING} in time; see the demo's logs")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=30.0)
    # The edge's `for: 5m` delays run on the wall clock whatever the simulator's speed, so
    # the high alarm comes about 5 minutes after the rate alarm.
    parser.add_argument("--wait", type=float, default=480.0, help="seconds for the alarms")
    args = parser.parse_args()
    IMG.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tracseq-shots-") as tmp,
        demo(Path(tmp), args.speed) as (url, password, _),
    ):
        client = httpx.Client(base_url=url, timeout=10)
        r = client.post("/api/v1/session", json={"username": "admin", "password": password})
        r.raise_for_status()
        csrf = r.json()["csrf_token"]
        alarms = wait_for_alarms(client, 2, time.monotonic() + args.wait)
        first = min(alarms, key=lambda a: a["raised_at"])  # acknowledged; the other is not
        client.post(
            f"/api/v1/alarms/{first['alarm_id']}/ack",
            json={"comment": "Compressor of F03 failed; samples moved to F01, service called"},
            headers={"X-CSRF-Token": csrf},
        ).raise_for_status()
        cookie = client.cookies["tracseq_session"]
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            context.add_cookies([{"name": "tracseq_session", "value": cookie, "url": url}])
            page = context.new_page()
            for path, name in (("/", "fleet"), ("/alarms", "alarms"),
                               (f"/sensor?id={FAILING}", "sensor")):  # fmt: skip
                page.goto(url + path)
                expect(page.locator("#live")).to_have_text("● live")
                if name == "sensor":
                    page.get_by_role("button", name="1 h").click()
                    expect(page.locator("#chart canvas")).to_have_count(1)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(IMG / f"{name}.png"), full_page=name != "fleet")
                print(f"wrote {IMG / f'{name}.png'}")
            context.close()
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
