"""A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) gets the alarm firing,
keeps it firing past its `resolve_timeout` while the alarm is active, and resolved when it
clears."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.events import parse_time
from sim.mailcatcher import MailCatcher
from tests.notify.conftest import Lab, basic_config, central_with, fast_central, write_config
from tests.servers import free_port, wait_for_port, wait_until

BINARY = "/usr/bin/prometheus-alertmanager"


@contextlib.contextmanager
def alertmanager(workdir: Path, resolve_timeout: str | None = None) -> Iterator[str]:
    if not os.access(BINARY, os.X_OK):
        pytest.skip(
            "prometheus-alertmanager is not installed (scripts/ensure-packages installs it)"
        )
    port = free_port()
    conf = workdir / "alertmanager.yml"
    settings = f"global: {{resolve_timeout: {resolve_timeout}}}\n" if resolve_timeout else ""
    conf.write_text(settings + "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    with (workdir / "alertmanager.log").open("wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={conf}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip: a single local instance
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _alerts(url: str, active: bool) -> list[dict[str, Any]]:
    flags = {"active": str(active).lower(), "silenced": "false", "inhibited": "false"}
    if not active:
        flags["unprocessed"] = "false"
    response = httpx.get(f"{url}/api/v2/alerts", params=flags, timeout=5)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def test_alertmanager_gets_the_alarm_and_its_resolution(tmp_path: Path, mail: MailCatcher) -> None:
    with alertmanager(tmp_path) as am_url:
        channels = f'  am:\n    alertmanager: {{url: "{am_url}"}}\n'
        levels = "      - after: 0s\n        notify: [{channel: am}]\n"
        config = write_config(
            tmp_path,
            basic_config(mail.port, group_wait="0s", levels=levels, extra_channels=channels),
        )
        with central_with(tmp_path, config) as central:
            lab = Lab(central)
            lab.describe("ult-F7.temp")
            alarm_id = lab.raise_alarm("ult-F7.temp")

            def firing() -> list[dict[str, Any]]:
                return [a for a in _alerts(am_url, True) if a["labels"].get("alarm_id") == alarm_id]

            wait_until(firing, timeout=20)
            alert = firing()[0]
            assert alert["labels"]["alertname"] == "tracseq_high"
            assert alert["labels"]["sensor"] == "ult-F7.temp"
            assert alert["annotations"]["acknowledge"].endswith(f"/alarms?ack={alarm_id}")
            lab.clear("ult-F7.temp", alarm_id)
            wait_until(lambda: not firing(), timeout=20)


def test_an_active_alarm_outlives_the_resolve_timeout(tmp_path: Path, mail: MailCatcher) -> None:
    with alertmanager(tmp_path, resolve_timeout="2s") as am_url:
        channels = f'  am:\n    alertmanager: {{url: "{am_url}"}}\n'
        levels = "      - after: 0s\n        notify: [{channel: am}]\n"  # no `repeat`
        config = write_config(
            tmp_path,
            basic_config(mail.port, group_wait="0s", levels=levels, extra_channels=channels),
        )
        with fast_central(tmp_path, config, every=0.5) as central:
            lab = Lab(central)
            lab.describe("ult-F7.temp")
            alarm_id = lab.raise_alarm("ult-F7.temp")

            def ends() -> float | None:
                """When Alertmanager would expire the firing alert (None: not firing)."""
                for alert in _alerts(am_url, True):
                    if alert["labels"].get("alarm_id") == alarm_id:
                        return parse_time(alert["endsAt"])
                return None

            wait_until(lambda: ends() is not None, timeout=20)
            first = ends()
            assert first is not None

            def outlived() -> bool:
                now = ends()
                assert now is not None, "the alert expired while the alarm was active"
                return now > first + 6  # three resolve_timeouts later, still firing

            wait_until(outlived, timeout=30)
            lab.clear("ult-F7.temp", alarm_id)
            wait_until(lambda: ends() is None, timeout=20)
