"""`central backup` and `central restore`: a consistent copy while central ingests, restored
into an empty database that then serves the same data and takes the gateway's next sync
without duplicates; a damaged backup or a non-empty target is refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.central.conftest import Central, fresh_db, reading, run_cli, start_central
from tests.records.conftest import TABLES, empty_db, rows, seeded_reading, with_schema
from tests.servers import wait_until


def _ingest_while(
    central: Central, gateway: str, sensor: str, first: int, stop: threading.Event
) -> list[int]:
    """Batches of 50 readings until `stop`; returns the seqs central accepted."""
    token = central.token(gateway)
    sent: list[int] = []
    seq = first
    while not stop.is_set() and len(sent) < 20_000:
        batch = [reading(gateway, s, sensor, -80.0) for s in range(seq, seq + 50)]
        if central.ingest(token, batch).status_code == 200:
            sent.extend(range(seq, seq + 50))
            seq += 50
    return sent


def test_a_backup_under_ingest_restores_intact_and_takes_the_next_sync_once(
    site: tuple[Central, str, str], tmp_path: Path, postgres_url: str
) -> None:
    central, gateway, sensor = site
    stop = threading.Event()
    result: list[list[int]] = []
    loader = threading.Thread(
        target=lambda: result.append(_ingest_while(central, "gw-load", "load.temp", 1, stop))
    )
    loader.start()
    try:
        wait_until(lambda: central.count("readings", "gateway = ?", ("gw-load",)) > 200, 30)
        code, out, err = run_cli("backup", "--db", central.db, "--to", str(tmp_path / "b"))
        assert code == 0, err
    finally:
        stop.set()
        loader.join()
    backup = tmp_path / "b"
    assert (tmp_path / "b.sha256").read_text().split()[1] == "b"
    assert any(r[3] == "backup.create" for r in rows(central.db, "audit"))

    with empty_db(central.backend, tmp_path, postgres_url) as target:
        restored = with_schema(target, central.db)  # the --db central will use
        code, out, err = run_cli("restore", "--from", str(backup), "--db", restored)
        assert code == 0, err
        # No torn copy: the load gateway's readings are a gap-free prefix of what was sent.
        code, out, err = run_cli("verify", "--db", restored, "--json")
        assert code == 0, out + err
        (tmp_path / "r").mkdir()
        with start_central(restored, central.backend, tmp_path / "r") as second:
            wait_until(lambda: second.client.get(f"{second.url}/readyz").status_code == 200, 20)
            sensors = {s["id"]: s for s in second.get("/api/v1/sensors").json()["sensors"]}
            assert sensors[sensor]["kind"] == "freezer"
            # The gateway resends from its cursor: what the backup had is a duplicate.
            token = second.token(gateway)
            again = [seeded_reading(gateway, sensor, s) for s in (2, 3)]
            answer = second.ingest(token, again).json()
            assert answer == {"accepted": 0, "duplicates": 2}


def test_restore_gives_back_every_table_as_it_was(
    site: tuple[Central, str, str], tmp_path: Path, postgres_url: str
) -> None:
    central, _, _ = site
    code, _, err = run_cli("backup", "--db", central.db, "--to", str(tmp_path / "quiet.bak"))
    assert code == 0, err
    before = {table: rows(central.db, table) for table in (*TABLES, "audit")}
    with empty_db(central.backend, tmp_path, postgres_url) as target:
        restored = with_schema(target, central.db)
        code, _, err = run_cli("restore", "--from", str(tmp_path / "quiet.bak"), "--db", restored)
        assert code == 0, err
        for table in TABLES:
            assert rows(restored, table) == before[table], table
        # The source's audit ends with the backup's own row, the copy with the restore's.
        assert rows(restored, "audit")[:-1] == before["audit"][:-1]
        assert rows(restored, "audit")[-1][3] == "backup.restore"


def test_a_damaged_backup_and_a_non_empty_target_are_refused(
    site: tuple[Central, str, str], tmp_path: Path, postgres_url: str
) -> None:
    central, _, _ = site
    backup = tmp_path / "one.bak"
    assert run_cli("backup", "--db", central.db, "--to", str(backup))[0] == 0
    code, _, err = run_cli("restore", "--from", str(backup), "--db", central.db)
    assert code == 1 and "holds" in err and "--force" in err

    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))
    with empty_db(central.backend, tmp_path, postgres_url) as target:
        code, _, err = run_cli(
            "restore", "--from", str(backup), "--db", with_schema(target, central.db)
        )
        assert code == 1 and "does not match" in err


def test_keep_rotates_old_backups_and_bad_arguments_exit_2(
    site: tuple[Central, str, str], tmp_path: Path
) -> None:
    central, _, _ = site
    folder = tmp_path / "nightly"
    folder.mkdir()
    for _ in range(3):
        assert run_cli("backup", "--db", central.db, "--to", str(folder), "--keep", "2")[0] == 0
        time.sleep(1.01)  # the file names carry the second
    backups = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".sha256"))
    assert len(backups) == 2
    assert sorted(p.name for p in folder.glob("*.sha256")) == [f"{b}.sha256" for b in backups]
    assert run_cli("backup", "--db", central.db, "--to", str(folder), "--keep", "0")[0] == 2
    assert run_cli("backup", "--db", "mysql://x", "--to", str(folder))[0] == 2


def test_a_missing_pg_dump_is_named(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_db("postgres", tmp_path, postgres_url) as db:
        monkeypatch.setenv("PATH", str(tmp_path))
        code, _, err = run_cli("backup", "--db", db, "--to", str(tmp_path / "x.pgdump"))
    assert code == 1 and "pg_dump not found" in err and "postgresql-client" in err
