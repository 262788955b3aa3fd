"""`tracseq-edge demo` brings up the whole stack and the dashboard shows live data."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.edge.daemon_proc import REPO


def sensors_with_values(url: str, key: str) -> list[dict[str, object]]:
    try:
        body = httpx.get(
            f"{url}/api/v1/sensors", headers={"Authorization": f"Bearer {key}"}, timeout=5
        ).json()
    except (httpx.HTTPError, ValueError):
        return []
    items = body if isinstance(body, list) else body.get("sensors", [])
    return [s for s in items if isinstance(s, dict) and s.get("last_value") is not None]


@pytest.mark.slow
def test_demo_reaches_a_dashboard_with_live_data_within_60s(tmp_path: Path) -> None:
    began = time.monotonic()
    # As a context manager: the pipe is closed and the process reaped however the test ends.
    with subprocess.Popen(
        [sys.executable, "-m", "edge", "demo", "--dir", str(tmp_path), "--private-servers"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = ""
            for line in proc.stdout:
                if line.startswith("Dashboard: "):
                    url = line.split()[1].rstrip("/")
                    break
            assert url, "the demo printed no dashboard URL"
            key = subprocess.run(
                [sys.executable, "-m", "edge", "central", "apikey", "create", "demo-test",
                 "--role", "viewer", "--db", f"sqlite:///{tmp_path / 'central.db'}"],
                cwd=REPO, capture_output=True, text=True, timeout=30, check=True,
            ).stdout.split()[-1]  # fmt: skip
            live: list[dict[str, object]] = []
            while time.monotonic() - began < 60 and len(live) < 10:
                live = sensors_with_values(url, key)
                time.sleep(0.5)
            assert len(live) >= 10, f"only {len(live)} sensors with data after 60 s"
            page = httpx.get(f"{url}/", timeout=5, follow_redirects=True)
            assert page.status_code == 200 and "<html" in page.text.lower()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0
