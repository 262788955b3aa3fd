"""Under systemd (Type=notify, WatchdogSec), central says READY=1 and pings the watchdog."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from tests.central.conftest import fresh_db, start_central


def test_ready_and_watchdog_pings(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        address = f"{short}/notify"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(address)
            sock.settimeout(10)
            monkeypatch.setenv("NOTIFY_SOCKET", address)
            monkeypatch.setenv("WATCHDOG_USEC", "200000")
            monkeypatch.delenv("WATCHDOG_PID", raising=False)
            with (
                fresh_db("sqlite", tmp_path, postgres_url) as db,
                start_central(db, "sqlite", tmp_path),
            ):
                messages = [sock.recv(256).decode() for _ in range(3)]
            assert messages[0].startswith("READY=1")
            assert messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
            rest = []
            while (message := sock.recv(256).decode()) != "STOPPING=1":
                rest.append(message)
            assert set(rest) <= {"WATCHDOG=1"}
