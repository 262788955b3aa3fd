"""`central verify` finds what was taken out of the record; `central archive` keeps the old
record outside the database, signed, and `central unarchive` brings it back for a report."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.central.conftest import Central, fresh_db, run_cli, start_central
from tests.records.conftest import DAY, START
from tests.servers import wait_until


def _sql(central: Central, *statements: str) -> None:
    """Change the database behind central's back, as someone with write access could."""
    if central.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(central.db.removeprefix("sqlite:///"))) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        return
    with psycopg.connect(central.db, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _verify(central: Central) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("verify", "--db", central.db, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def test_verify_passes_on_an_intact_record(site: tuple[Central, str, str]) -> None:
    central, _, _ = site
    code, report = _verify(central)
    assert code == 0 and report["ok"], report
    assert report["counts"]["readings"] == 144 and report["counts"]["alarm_acks"] == 1
    assert report["checks"]["rollups"] == "ok" and report["counts"]["reading_rollups"] > 0


def test_verify_finds_a_deleted_reading(site: tuple[Central, str, str]) -> None:
    central, gateway, _ = site
    _sql(central, f"DELETE FROM readings WHERE id = '{gateway}:40'")
    code, report = _verify(central)
    assert code == 1 and report["checks"]["sequence_gaps"] == "failed"
    assert any(f"first missing: {gateway}:40" in p for p in report["problems"]), report


def test_verify_finds_an_hour_whose_summary_disagrees_with_its_readings(
    site: tuple[Central, str, str],
) -> None:
    central, gateway, sensor = site
    _sql(central, f"DELETE FROM readings WHERE id = '{gateway}:41'")
    code, report = _verify(central)
    assert code == 1 and report["checks"]["rollups"] == "failed", report
    assert any(f"sensor {sensor!r}" in p and "holds" in p for p in report["problems"]), report


def test_verify_finds_a_deleted_audit_row(site: tuple[Central, str, str]) -> None:
    central, _, _ = site
    if central.backend == "sqlite":
        _sql(central, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = 2")
    else:
        _sql(central, "DROP TRIGGER audit_append_only ON audit", "DELETE FROM audit WHERE id = 2")
    code, report = _verify(central)
    assert code == 1 and report["checks"]["audit_chain"] == "failed", report


def test_verify_finds_readings_of_a_sensor_the_twin_lost(site: tuple[Central, str, str]) -> None:
    central, _, sensor = site
    _sql(central, f"DELETE FROM sensors WHERE id = '{sensor}'")
    code, report = _verify(central)
    assert code == 1 and report["checks"]["unknown_sensors"] == "failed"
    assert any(sensor in p for p in report["problems"])


def _report(central: Central, sensor: str) -> dict[str, Any]:
    answer = central.get(
        f"/api/v1/reports/sensors/{sensor}",
        **{"from": _iso(START), "to": _iso(START + 2 * DAY)},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def test_an_archive_is_signed_and_reads_back_into_a_report(
    site: tuple[Central, str, str], tmp_path: Path, postgres_url: str
) -> None:
    central, _, sensor = site
    key = tmp_path / "audit.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")
    before = time.strftime("%Y-%m-%d", time.gmtime(START + 2 * DAY))
    expected = _report(central, sensor)
    archive = tmp_path / "archive"
    code, _, err = run_cli(
        "archive", "--db", central.db, "--before", before, "--to", str(archive),
        "--audit-key", str(key),
    )  # fmt: skip
    assert code == 0, err
    manifest = json.loads((archive / "manifest.json").read_text())
    rows = {f["name"]: f["rows"] for f in manifest["files"]}
    day0 = time.strftime("%Y-%m-%d", time.gmtime(START))
    day1 = time.strftime("%Y-%m-%d", time.gmtime(START + DAY))
    assert rows[f"readings/{day0}.csv.gz"] == 48 and rows[f"readings/{day1}.csv.gz"] == 48
    assert rows[f"alarms/{day1}.csv.gz"] == 1
    assert not any(n.startswith("readings/" + before) for n in rows)  # the cut-off day stays

    # Retention drops what was archived.
    _sql(central, f"DELETE FROM readings WHERE time < {START + 2 * DAY}")

    with fresh_db(central.backend, tmp_path, postgres_url) as scratch:
        code, _, err = run_cli(
            "unarchive", "--from", str(archive), "--db", scratch, "--audit-key", str(key)
        )
        assert code == 0, err
        (tmp_path / "scratch").mkdir()
        with start_central(scratch, central.backend, tmp_path / "scratch") as reader:
            wait_until(lambda: reader.client.get(f"{reader.url}/readyz").status_code == 200, 20)
            got = _report(reader, sensor)
    assert expected["count"] >= 96 and expected["max"] == -60.0
    for field in ("count", "min", "max", "mean", "time_weighted_mean", "mkt", "time_above_s"):
        assert got[field] == expected[field], field

    # A changed file, or another key, is refused before a row is written.
    other = tmp_path / "other.key"
    other.write_bytes(b"another key, 32 bytes long......")
    code, _, err = run_cli(
        "unarchive", "--from", str(archive), "--db", central.db, "--audit-key", str(other)
    )
    assert code == 1 and "signature" in err
    day_file = archive / f"readings/{day0}.csv.gz"
    day_file.write_bytes(gzip.compress(b"id,gateway\nforged,x\n"))
    code, _, err = run_cli(
        "unarchive", "--from", str(archive), "--db", central.db, "--audit-key", str(key)
    )
    assert code == 1 and "SHA-256" in err
