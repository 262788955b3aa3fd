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
