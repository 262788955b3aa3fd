"""What central keeps of the edge's alarm events beyond raise/clear: the fallback e-mail
(`org.tracseq.alarm.notified`), the clear that must never precede its raise, priorities."""

from __future__ import annotations

import time

from runtime import events as ev
from tests.central.conftest import Central, event, gateway_name


def test_the_edges_fallback_notice_is_accepted_and_stored(central: Central) -> None:
    gw = gateway_name()
    alarm_id = f"{gw}:ult-1.temp:high:1"
    notified = event(
        gw,
        1,
        ev.ALARM_NOTIFIED,
        "ult-1.temp",
        alarm_id=alarm_id,
        channel="email",
        to=["oncall@lab.example"],
    )
    answer = central.ingest(central.token(gw), [notified])
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    assert central.count("events", "gateway = ? AND type = ?", (gw, ev.ALARM_NOTIFIED)) == 1


def test_a_fallback_notice_without_alarm_id_is_400_naming_the_field(central: Central) -> None:
    gw = gateway_name()
    bad = event(gw, 1, ev.ALARM_NOTIFIED, "ult-1.temp", channel="email", at=time.time())
    answer = central.ingest(central.token(gw), [bad])
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "data.alarm_id"


def test_a_clear_stamped_before_its_raise_is_stored_at_the_raise(central: Central) -> None:
    gw = gateway_name()
    alarm_id = f"{gw}:ult-1.temp:high:1"
    now = time.time()
    raised = event(
        gw,
        1,
        ev.ALARM_RAISED,
        "ult-1.temp",
        at=now,
        rule="high",
        threshold=-70.0,
        value=-65.0,
        since=ev.format_time(now - 300),
        alarm_id=alarm_id,
    )
    # An older edge stamped the clear with a sensor time 4 minutes before the raise.
    cleared = event(
        gw,
        2,
        ev.ALARM_CLEARED,
        "ult-1.temp",
        at=now - 240,
        rule="high",
        value=-78.0,
        since=ev.format_time(now - 300),
        alarm_id=alarm_id,
        duration_s=60.0,
    )
    token = central.token(gw)
    assert central.ingest(token, [raised]).status_code == 200
    assert central.ingest(token, [cleared]).status_code == 200
    alarms = central.get("/api/v1/alarms", state="all").json()["alarms"]
    mine = next(a for a in alarms if a["alarm_id"] == alarm_id)
    assert mine["cleared_at"] == mine["raised_at"]
    assert mine["state"] == "cleared"


def test_priority_is_stored_and_returned_with_alarms_and_sensors(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}-ult.temp"
    now = time.time()
    common = {"rule": "high", "since": ev.format_time(now - 60)}
    raised = event(
        gw,
        1,
        ev.ALARM_RAISED,
        sensor,
        at=now,
        threshold=-70.0,
        value=-65.0,
        alarm_id=f"{gw}:a",
        priority="critical",
        **common,
    )
    warning = event(
        gw,
        2,
        ev.ALARM_RAISED,
        sensor,
        at=now,
        threshold=-70.0,
        value=-65.0,
        alarm_id=f"{gw}:b",
        priority="warning",
        **{**common, "rule": "rate"},
    )
    older = event(  # a gateway from before priorities
        gw,
        3,
        ev.ALARM_RAISED,
        sensor,
        at=now,
        threshold=-70.0,
        value=-65.0,
        alarm_id=f"{gw}:c",
        **{**common, "rule": "offline"},
    )
    assert central.ingest(central.token(gw), [raised, warning, older]).status_code == 200
    alarms = central.get("/api/v1/alarms", state="all").json()["alarms"]
    mine = {a["alarm_id"]: a["priority"] for a in alarms if a["gateway"] == gw}
    assert mine == {f"{gw}:a": "critical", f"{gw}:b": "warning", f"{gw}:c": None}
    sensors = central.get("/api/v1/sensors").json()["sensors"]
    twin = next(s for s in sensors if s["id"] == sensor)
    assert sorted((a["rule"], a["priority"]) for a in twin["active_alarms"]) == [
        ("high", "critical"),
        ("offline", None),
        ("rate", "warning"),
    ]
