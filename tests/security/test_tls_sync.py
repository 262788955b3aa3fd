"""Sync over TLS to the real central app served by uvicorn with a throwaway CA's certificate.

With `sync.ca_file` set to that CA the uploader delivers every event; without it (system
trust store) or with an unrelated CA the handshake is refused, nothing is sent, the
cursor stays put and health says why.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeconfig import Config
from sync.uploader import Uploader
from tests.security.central_server import RunningCentral, central
from tests.security.tls import Pki, make_pki
from tests.sync.conftest import (
    GATEWAY,
    fast_uploader,
    opened_log,
    readings,
    run,
    running,
    sync_config,
    until,
)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    try:
        return make_pki(tmp_path / "pki")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make test certificates: {exc}")


def stored_readings(server: RunningCentral) -> int:
    path = server.db.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])


def refused_by_verification(uploader: Uploader) -> Callable[[], bool]:
    return lambda: "CERTIFICATE_VERIFY_FAILED" in uploader.health().detail


def with_ca(config: Config, ca_file: Path | None) -> Config:
    assert config.sync is not None
    return config.model_copy(update={"sync": config.sync.model_copy(update={"ca_file": ca_file})})


def test_sync_to_central_over_tls_is_verified_against_the_configured_ca(
    tmp_path: Path, pki: Pki
) -> None:
    with central(tmp_path / "central", tls=(pki.server_cert, pki.server_key)) as server:
        assert server.url.startswith("https://")
        token_file = tmp_path / "gateway.token"
        token_file.write_text(server.token(GATEWAY) + "\n")
        base = sync_config(tmp_path, server.url, token_file)

        async def scenario() -> None:
            async with opened_log(tmp_path) as log:
                await log.append(readings(20))
                for untrusted in (None, pki.wrong_ca):
                    uploader = fast_uploader(with_ca(base, untrusted), log)
                    async with running(uploader):
                        await until(refused_by_verification(uploader))
                        assert uploader.health().state == "disconnected"
                    assert log.cursor("sync") == 0
                assert stored_readings(server) == 0
                async with running(fast_uploader(with_ca(base, pki.ca), log)):
                    await until(lambda: log.cursor("sync") == 20)

        run(scenario)
        assert stored_readings(server) == 20


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://central.lab.example:8095", True),
        ("http://10.0.0.5:8095", True),
        ("http://[2001:db8::1]:8095", True),
        ("http://127.0.0.1:8095", False),
        ("http://localhost:8095", False),
        ("http://[::1]:8095", False),
        ("https://central.lab.example", False),
    ],
)
def test_plain_http_sync_to_another_host_is_warned_about(
    url: str, warned: bool, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Issue 13.16: accepted (a TLS proxy may be on the path) but never silently."""
    import asyncio

    from edge.check import run_check
    from edgeconfig import Sync
    from sync.http import CentralClient

    sync = Sync(url=url)
    assert (sync.plain_http_warning() is not None) is warned

    async def open_client() -> None:
        async with CentralClient(sync):
            pass

    with caplog.at_level("WARNING"):
        asyncio.run(open_client())
    assert ("unencrypted" in caplog.text) is warned

    source = (Path(__file__).resolve().parents[2] / "sensors.yaml").read_text()
    config = tmp_path / "sensors.yaml"
    config.write_text(source.replace("url: http://127.0.0.1:8095", f"url: {url}"))
    assert f"url: {url}" in config.read_text()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert run_check(str(config)) == 0
    assert ("unencrypted" in err.getvalue()) is warned
