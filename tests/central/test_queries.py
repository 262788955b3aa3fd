"""The query API on a real central, the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from runtime import events as ev
from tests.central.conftest import Central, event, gateway_name, reading
from tests.servers import wait_until

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, on a whole hour


def described(gw: str, seq: int, sensor: str, **alarms: Any) -> dict[str, Any]:
    return event(
        gw,
        seq,
        ev.SENSOR_DESCRIBED,
        sensor,
        at=T0,
        kind="freezer",
        quantity="temperature",
        unit="degC",
        site="lab3",
        protocol="mqtt",
        alarms=alarms,
    )


def test_read_endpoints_need_an_api_key(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    for path in ("/api/v1/gateways", "/api/v1/sensors", "/api/v1/alarms"):
        assert central.client.get(central.url + path).status_code == 401
        gateway_auth = {"authorization": f"Bearer {token}"}
        assert central.client.get(central.url + path, headers=gateway_auth).status_code == 403
        assert central.get(path).status_code == 200


def test_twin_follows_readings_and_takes_limits_from_sensor_described(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    events = [
        described(gw, 1, sensor, high={"above": -70, "for_s": 300}, offline={"after_s": 1e9}),
        reading(gw, 2, sensor, -80.5, at=T0 + 60),
        reading(gw, 3, sensor, -79.5, at=T0 + 120),
        reading(gw, 4, sensor, -81.0, at=T0 + 30),  # late arrival: older than the latest
    ]
    assert central.ingest(central.token(gw), events).status_code == 200
    twin = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]
    assert twin["last_value"] == -79.5
    assert twin["last_time"] == ev.format_time(T0 + 120)
    assert twin["unit"] == "degC" and twin["kind"] == "freezer" and twin["site"] == "lab3"
    assert twin["alarms"]["high"]["above"] == -70
    assert twin["status"] == "normal"
    assert twin["gateway"] == gw


def test_readings_raw_and_min_avg_max_per_step(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    # 0..59 minutes: values 0..59; buckets of 15 minutes.
    events = [reading(gw, i + 1, sensor, float(i), at=T0 + 60 * i) for i in range(60)]
    assert central.ingest(central.token(gw), events).status_code == 200
    path = f"/api/v1/sensors/{sensor}/readings"
    raw = central.get(path, **{"from": ev.format_time(T0), "to": T0 + 600}).json()
    assert [r["value"] for r in raw["readings"]] == [float(i) for i in range(10)]
    stepped = central.get(path, step="15m", **{"from": T0, "to": T0 + 3600}).json()
    assert stepped["step"] == 900
    assert [(b["min"], b["avg"], b["max"], b["count"]) for b in stepped["buckets"]] == [
        (0.0, 7.0, 14.0, 15),
        (15.0, 22.0, 29.0, 15),
        (30.0, 37.0, 44.0, 15),
        (45.0, 52.0, 59.0, 15),
    ]
    assert stepped["buckets"][1]["time"] == ev.format_time(T0 + 900)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "yesterday"}, "from"), ({"step": "5 min"}, "step"), ({"from": 10, "to": 5}, "from")],
)
def test_bad_query_parameters_are_400_naming_the_parameter(
    central: Central, params: dict[str, Any], field: str
) -> None:
    answer = central.get("/api/v1/sensors/x/readings", **params)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(field)


def test_alarm_raised_and_cleared_are_one_row_with_duration_and_acks(central: Central) -> None:
    gw = gateway_name()
    alarm_id = f"{gw}:high-1"
    token = central.token(gw)
    raised = event(
        gw,
        1,
        ev.ALARM_RAISED,
        f"{gw}.ult",
        at=T0,
        rule="high",
        threshold=-70,
        value=-65.0,
        since=ev.format_time(T0 - 300),
        alarm_id=alarm_id,
    )
    assert central.ingest(token, [raised]).status_code == 200
    active = {a["alarm_id"]: a for a in central.get("/api/v1/alarms").json()["alarms"]}
    assert active[alarm_id]["state"] == "active"
    assert active[alarm_id]["threshold"] == -70
    sensors = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}
    assert sensors[f"{gw}.ult"]["status"] == "alarm"

    ack = central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "ann", "comment": "door shut"})
    assert ack.status_code == 200
    cleared = event(
        gw,
        2,
        ev.ALARM_CLEARED,
        f"{gw}.ult",
        at=T0 + 900,
        rule="high",
        value=-75.0,
        since=ev.format_time(T0),
        alarm_id=alarm_id,
        duration_s=900.0,
    )
    assert central.ingest(token, [cleared]).status_code == 200
    active_ids = {a["alarm_id"] for a in central.get("/api/v1/alarms").json()["alarms"]}
    assert alarm_id not in active_ids
    every = {a["alarm_id"]: a for a in central.get("/api/v1/alarms", state="all").json()["alarms"]}
    row = every[alarm_id]
    assert row["state"] == "cleared"
    assert row["duration_s"] == 900.0
    assert row["raised_at"] == ev.format_time(T0)
    assert row["cleared_at"] == ev.format_time(T0 + 900)
    assert [(a["by"], a["comment"]) for a in row["acks"]] == [("ann", "door shut")]


def test_ack_needs_a_comment_an_operator_and_a_known_alarm(central: Central) -> None:
    gw = gateway_name()
    alarm_id = f"{gw}:low-1"
    raised = event(
        gw, 1, ev.ALARM_RAISED, f"{gw}.ult", rule="low", threshold=-90, value=-95, alarm_id=alarm_id
    )
    central.ingest(central.token(gw), [raised])
    path = f"/api/v1/alarms/{alarm_id}/ack"
    assert central.post(path, {"by": "ann"}).status_code == 400
    assert central.post(path, {"by": "ann", "comment": "   "}).status_code == 400
    assert central.post(path, {"by": "ann", "comment": "ok"}, role="viewer").status_code == 403
    assert central.post("/api/v1/alarms/nope/ack", {"by": "a", "comment": "b"}).status_code == 404
    assert central.count("alarm_acks", "alarm_id = ?", (alarm_id,)) == 0


def test_report_gives_min_max_mean_time_out_of_range_and_mkt(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.stability"
    events = [described(gw, 1, sensor, high={"above": 25.0}, low={"below": 15.0})]
    # One reading a minute: 60 min at 20 °C then 60 min at 30 °C.
    events += [
        reading(gw, i + 2, sensor, 20.0 if i < 60 else 30.0, at=T0 + 60 * i) for i in range(120)
    ]
    assert central.ingest(central.token(gw), events).status_code == 200
    report = central.get(f"/api/v1/reports/sensors/{sensor}", **{"from": T0, "to": T0 + 7200})
    body = report.json()
    assert body["count"] == 120
    assert (body["min"], body["max"], body["mean"]) == (20.0, 30.0, 25.0)
    assert body["mkt"] == pytest.approx(26.26, abs=0.005)
    assert body["time_above_s"] == pytest.approx(3600.0)
    assert body["time_below_s"] == 0
    assert body["thresholds"] == {"above": 25.0, "below": 15.0}
    assert central.get("/api/v1/reports/sensors/no-such-sensor").status_code == 404


def test_gateway_shows_last_seq_and_lag_back_to_about_zero(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    now = time.time()
    old = [reading(gw, i, "s", 1.0, at=now - 3600) for i in range(1, 11)]
    central.ingest(token, old)
    gateways = {g["id"]: g for g in central.get("/api/v1/gateways").json()["gateways"]}
    assert gateways[gw]["lag_s"] > 3000
    central.ingest(token, [reading(gw, 11, "s", 1.0)])
    gateways = {g["id"]: g for g in central.get("/api/v1/gateways").json()["gateways"]}
    assert gateways[gw]["last_seq"] == 11
    assert gateways[gw]["lag_s"] < 60
    assert gateways[gw]["online"] is True


def test_silent_gateway_raises_gateway_offline_and_clears_when_back(central: Central) -> None:
    # The fixture runs central with --offline-after 1s.
    gw = gateway_name()
    token = central.token(gw)
    central.ingest(token, [event(gw, 1, ev.GATEWAY_HEARTBEAT, uptime_s=1, pending=0)])

    def offline_alarm() -> dict[str, Any] | None:
        alarms = central.get("/api/v1/alarms").json()["alarms"]
        mine = [a for a in alarms if a["rule"] == "gateway_offline" and a["subject"] == gw]
        return mine[0] if mine else None

    wait_until(lambda: offline_alarm() is not None, timeout=15)
    alarm = offline_alarm()
    assert alarm is not None and alarm["origin"] == "central" and alarm["gateway"] == gw
    gateways = {g["id"]: g for g in central.get("/api/v1/gateways").json()["gateways"]}
    assert gateways[gw]["online"] is False

    central.ingest(token, [event(gw, 2, ev.GATEWAY_HEARTBEAT, uptime_s=9, pending=0)])
    assert offline_alarm() is None
    every = central.get("/api/v1/alarms", state="all").json()["alarms"]
    cleared = [a for a in every if a["alarm_id"] == alarm["alarm_id"]]
    assert cleared[0]["state"] == "cleared"
    assert cleared[0]["duration_s"] > 0


def test_stream_sends_new_events_and_resumes_after_last_event_id(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    headers = {"authorization": f"Bearer {central.key()}"}
    got: list[tuple[str, str, str]] = []
    ready = threading.Event()

    def listen(last_event_id: str | None, want: int) -> None:
        sent = dict(headers)
        if last_event_id:
            sent["last-event-id"] = last_event_id
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", f"{central.url}/api/v1/stream", headers=sent) as response,
        ):
            frame: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                elif line == "" and frame:
                    if gw in frame.get("data", "") or frame.get("event") == "reset":
                        got.append((frame["id"], frame["event"], frame["data"]))
                    frame = {}
                    if len(got) >= want:
                        return
                elif ":" in line and not line.startswith(":"):
                    key, _, value = line.partition(":")
                    frame[key] = value.strip()

    thread = threading.Thread(target=listen, args=(None, 2), daemon=True)
    thread.start()
    assert ready.wait(10)
    central.ingest(token, [reading(gw, 1, f"{gw}.s", 1.0), reading(gw, 2, f"{gw}.s", 2.0)])
    thread.join(15)
    assert [e for _, e, _ in got] == [ev.READING, ev.READING]
    first_id = got[0][0]
    got.clear()
    ready.clear()
    resumed = threading.Thread(target=listen, args=(first_id, 1), daemon=True)
    resumed.start()
    thread.join(15)
    resumed.join(15)
    assert f'"{gw}:2"' in got[0][2]  # everything after the first event, i.e. the second


def test_health_ready_and_openapi(central: Central) -> None:
    for path in ("/healthz", "/health", "/readyz"):
        assert central.client.get(central.url + path).json()["status"] == "ok"
    assert central.client.get(central.url + "/openapi.json").json()["openapi"].startswith("3.")
