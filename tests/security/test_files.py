"""Secret-bearing files are private from the start (issue 13, item 10), and the units bound
open files and set a umask (items 4 and 10)."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest

from central.storage.sqlite import connect as central_connect
from edge.sqlite import connect as edge_connect
from runtime.private_files import create_private, write_private

UNITS = sorted((Path(__file__).resolve().parents[2] / "systemd").glob("*.service"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> object:
    """A umask that would leave files world-readable (022, the usual default)."""
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_central_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    conn = central_connect(tmp_path / "central.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    assert mode(tmp_path / "central.db") == 0o600
    assert mode(tmp_path / "central.db-wal") == 0o600
    conn.close()


def test_the_edge_log_is_0600(tmp_path: Path) -> None:
    conn = edge_connect(tmp_path / "log" / "edge.db")
    conn.execute("CREATE TABLE t (x)")
    assert mode(tmp_path / "log" / "edge.db") == 0o600
    assert mode(tmp_path / "log" / "edge.db-wal") == 0o600
    conn.close()


def test_private_files_are_0600_before_their_first_byte(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    write_private(secret, "s3cret\n")
    assert mode(secret) == 0o600 and secret.read_text() == "s3cret\n"
    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o644)
    write_private(loose, "y")  # rewritten: made private too
    assert mode(loose) == 0o600
    create_private(tmp_path / "empty.db")
    assert mode(tmp_path / "empty.db") == 0o600


def test_the_demo_writes_its_admin_password_and_tokens_0600(tmp_path: Path) -> None:
    from sim.demo import _create_admin

    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    login = _create_admin(f"sqlite:///{tmp_path / 'central.db'}", secrets_dir)
    assert login is not None and login[0] == "admin"
    assert mode(secrets_dir / "admin.password") == 0o600
    assert mode(tmp_path / "central.db") == 0o600  # made by `central user create`
    # The tokens are written the same way inside the demo's start-up (sim/demo.py).
    source = (Path(__file__).resolve().parents[2] / "sim" / "demo.py").read_text()
    for name in ("gateway.token", "intake.token", "analytics.token"):
        assert f'write_private(secrets_dir / "{name}"' in source


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_bound_open_files_and_keep_new_files_private(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    service = parser["Service"]
    if service.get("Type") != "oneshot":  # a listener: many open connections and files
        assert int(service["LimitNOFILE"]) >= 65536
    # 0027 or stricter (the nightly backup uses 0077): never readable by other users
    assert int(service["UMask"], 8) & 0o027 == 0o027
