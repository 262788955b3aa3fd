"""Excursion reports on recorded data with known excursions, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from central.reports import summarize
from runtime import events as ev
from tests.central.conftest import Central, gateway_name
from tests.qa import recording as rec


def _report(central: Central, sensor: str) -> dict:  # type: ignore[type-arg]
    response = central.get(f"/api/v1/reports/sensors/{sensor}", **{"from": rec.T0, "to": rec.END})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_each_excursion_has_exact_start_end_duration_and_peak(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, high_id, low_id = rec.events(gw, sensor)
    assert central.ingest(central.token(gw), batch).status_code == 200
    body = _report(central, sensor)
    got = [
        (x["rule"], x["start"], x["end"], x["duration_s"], x["peak"]) for x in body["excursions"]
    ]
    t = ev.format_time
    assert got == [
        ("high", t(rec.T0 + 3600), t(rec.T0 + 3780), 180.0, 10.5),  # door opening
        ("high", t(rec.T0 + 7200), t(rec.T0 + 8160), 960.0, 13.5),  # compressor stop
        ("low", t(rec.T0 + 10200), t(rec.T0 + 14400), 4200.0, 1.0),  # cold, then offline
    ]
    door, compressor, cold = body["excursions"]
    assert door["alarm_id"] is None and door["alarm"]["state"] == "within delay"
    assert "shorter than the alarm delay (300 s)" in door["alarm"]["why"]
    assert compressor["alarm_id"] == high_id and compressor["alarm"]["state"] == "raised"
    assert compressor["alarm"]["why"] == "raised 300 s after the start"
    assert cold["alarm_id"] == low_id
    assert cold["gaps"] == [{"from": t(rec.T0 + 10740), "to": t(rec.T0 + 14400)}]
    assert body["gaps"] == [
        {"from": t(rec.T0 + 10740), "to": t(rec.T0 + 14400), "duration_s": 3660.0}
    ]
    assert body["time_out_of_range_s"] == 180.0 + 960.0 + 4200.0
    assert body["excursions"][0]["mkt"] == pytest.approx(
        summarize([0, 60, 120], [9.0, 10.5, 9.2], end=180, above=None, below=None, unit="degC").mkt
    )


def test_summary_computed_in_sql_equals_the_reference_in_python(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, _, _ = rec.events(gw, sensor)
    assert central.ingest(central.token(gw), batch).status_code == 200
    body = _report(central, sensor)
    times, values = rec.series()
    ref = summarize(times, values, end=rec.END, above=8.0, below=2.0, unit="degC")
    for key, expected in ref.to_dict().items():
        assert body[key] == pytest.approx(expected, rel=1e-9), key
    # covered: every minute but the hour offline counts, the gap at most 10 intervals
    assert body["coverage"] == pytest.approx(ref.covered_s / (rec.END - rec.T0))
    assert body["calibration"]["status"] == "not managed"


def test_csv_lists_the_excursions_after_the_summary(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    batch, high_id, _ = rec.events(gw, sensor)
    assert central.ingest(central.token(gw), batch).status_code == 200
    response = central.get(
        f"/api/v1/reports/sensors/{sensor}", **{"from": rec.T0, "to": rec.END, "format": "csv"}
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["field", "value"] and ["sensor", sensor] in rows
    header = rows.index(
        [
            "excursion",
            "rule",
            "start",
            "end",
            "duration_s",
            "peak",
            "mkt",
            "ongoing",
            "alarm_id",
            "alarm",
            "why",
            "acks",
        ]
    )
    assert [r[1] for r in rows[header + 1 : header + 4]] == ["high", "high", "low"]
    assert rows[header + 2][8] == high_id


def test_site_report_covers_every_sensor_of_the_site(central: Central) -> None:
    gw = gateway_name()
    site = f"site-{gw}"
    batch_a, _, _ = rec.events(gw, f"{gw}.a", site)
    batch_b, _, _ = rec.events(gw, f"{gw}.b", site)
    for i, e in enumerate(batch_b):  # the second sensor's events need their own seqs
        e["id"] = f"{gw}:{1000 + i}"
        e["data"]["seq"] = 1000 + i
    assert central.ingest(central.token(gw), batch_a + batch_b).status_code == 200
    response = central.get(f"/api/v1/reports/sites/{site}", **{"from": rec.T0, "to": rec.END})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["sensor"] for s in body["sensors"]] == [f"{gw}.a", f"{gw}.b"]
    assert body["excursion_count"] == 6
    assert central.get("/api/v1/reports/sites/nowhere").status_code == 404
