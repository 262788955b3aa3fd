"""The alarm workflow in the query API (contract: "Alarm workflow additions"), on SQLite
and PostgreSQL: acknowledgements on the live stream (across instances on PostgreSQL),
`pending` while a limit's delay runs, `acknowledged` and units on alarms, and one
acknowledgement covering a sensor's active alarms."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from runtime import events as ev
from tests.central.conftest import Central, event, gateway_name, reading, start_central


def described(gw: str, seq: int, sensor: str, at: float, **alarms: Any) -> dict[str, Any]:
    return event(
        gw,
        seq,
        ev.SENSOR_DESCRIBED,
        sensor,
        at=at,
        kind="freezer",
        quantity="temperature",
        unit="degC",
        site="lab3",
        protocol="mqtt",
        alarms=alarms,
    )


def raised(gw: str, seq: int, sensor: str, rule: str, threshold: float, value: float) -> Any:
    alarm_id = f"{gw}:{sensor}:{rule}:{seq}"
    body = event(
        gw,
        seq,
        ev.ALARM_RAISED,
        sensor,
        rule=rule,
        threshold=threshold,
        value=value,
        since=ev.format_time(time.time()),
        alarm_id=alarm_id,
    )
    return alarm_id, body


class Listener:
    """Follows /api/v1/stream in a thread and keeps every frame whose data mentions `mark`."""

    def __init__(self, url: str, key: str, mark: str) -> None:
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self._stop = False
        self._args = (url, key, mark)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        assert self.ready.wait(15), "the stream did not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True

    def _run(self) -> None:
        url, key, mark = self._args
        headers = {"authorization": f"Bearer {key}"}
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", f"{url}/api/v1/stream", headers=headers) as response,
        ):
            frame: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop:
                    return
                if line.startswith(": connected"):
                    self.ready.set()
                elif line == "" and frame:
                    if mark in frame.get("data", ""):
                        self.frames.append((frame["event"], orjson.loads(frame["data"])))
                    frame = {}
                elif ":" in line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    frame[name] = value.strip()

    def wait_for(self, kind: str, deadline: float = 10.0) -> dict[str, Any]:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for name, data in self.frames:
                if name == kind:
                    return data
            time.sleep(0.02)
        raise AssertionError(f"no {kind} event within {deadline} s: {self.frames}")


def test_an_acknowledgement_goes_out_on_the_live_stream(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    alarm_id, body = raised(gw, 1, sensor, "high", -70, -60)
    assert central.ingest(central.token(gw), [body]).status_code == 200
    with Listener(central.url, central.key(), alarm_id) as stream:
        r = central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "ann", "comment": "door shut"})
        assert r.status_code == 200
        got = stream.wait_for(ev.ALARM_ACKNOWLEDGED)
    assert got["type"] == ev.ALARM_ACKNOWLEDGED
    assert got["subject"] == sensor
    data = got["data"]
    assert (data["alarm_id"], data["by"], data["comment"]) == (alarm_id, "ann", "door shut")
    assert data["actor"].startswith("apikey:")
    assert data["at"] == r.json()["at"]


@pytest.fixture()
def second_instance(central: Central, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Another central on the same database (several instances: PostgreSQL only)."""
    with start_central(central.db, "postgres", tmp_path_factory.mktemp("second")) as other:
        yield other


@pytest.mark.parametrize("central", ["postgres"], indirect=True)
def test_an_acknowledgement_on_one_instance_reaches_the_stream_of_another(
    central: Central, second_instance: Central
) -> None:
    gw = gateway_name()
    alarm_id, body = raised(gw, 1, f"{gw}.ult", "high", -70, -60)
    assert central.ingest(central.token(gw), [body]).status_code == 200
    with Listener(second_instance.url, central.key(), alarm_id) as stream:
        acked = central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "b", "comment": "ok"})
        assert acked.is_success
        assert stream.wait_for(ev.ALARM_ACKNOWLEDGED)["data"]["by"] == "b"


def test_over_the_limit_during_the_delay_is_pending_not_normal(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    now = time.time()
    token = central.token(gw)
    events = [
        described(gw, 1, sensor, now - 600, high={"above": -70, "for_s": 300}),
        reading(gw, 2, sensor, -80.0, at=now - 120),
        reading(gw, 3, sensor, -66.0, at=now - 60),
        reading(gw, 4, sensor, -54.5, at=now - 1),
    ]
    assert central.ingest(token, events).status_code == 200
    twin = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]
    assert twin["status"] == "pending"
    assert twin["pending"] == [
        {"rule": "high", "threshold": -70, "for_s": 300, "since": ev.format_time(now - 60)}
    ]
    # The alarm arrives: alarm wins over pending.
    _, body = raised(gw, 5, sensor, "high", -70, -54.5)
    assert central.ingest(token, [body]).status_code == 200
    twin = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]
    assert twin["status"] == "alarm"
    assert twin["pending"] == []


def test_below_the_limit_again_is_normal(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.fridge"
    now = time.time()
    events = [
        described(gw, 1, sensor, now - 600, low={"below": 2.0, "for_s": 300}),
        reading(gw, 2, sensor, 1.0, at=now - 60),
        reading(gw, 3, sensor, 4.0, at=now - 1),
    ]
    assert central.ingest(central.token(gw), events).status_code == 200
    twin = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]
    assert (twin["status"], twin["pending"]) == ("normal", [])


def test_alarms_say_acknowledged_and_rate_alarms_carry_the_unit_per_minute(
    central: Central,
) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    token = central.token(gw)
    high_id, high = raised(gw, 2, sensor, "high", -70, -60)
    rate_id, rate = raised(gw, 3, sensor, "rate", 1.0, 6.12)
    events = [described(gw, 1, sensor, time.time(), high={"above": -70}), high, rate]
    assert central.ingest(token, events).status_code == 200
    assert central.post(f"/api/v1/alarms/{high_id}/ack", {"by": "a", "comment": "x"}).is_success
    alarms = {a["alarm_id"]: a for a in central.get("/api/v1/alarms").json()["alarms"]}
    assert alarms[high_id]["acknowledged"] is True
    assert alarms[high_id]["unit"] == "degC"
    assert alarms[rate_id]["acknowledged"] is False
    assert alarms[rate_id]["unit"] == "degC/min"


def test_one_acknowledgement_covers_a_sensors_active_alarms(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    token = central.token(gw)
    high_id, high = raised(gw, 1, sensor, "high", -70, -60)
    rate_id, rate = raised(gw, 2, sensor, "rate", 1.0, 6.1)
    other_id, other = raised(gw, 3, f"{gw}.other", "high", -70, -60)
    assert central.ingest(token, [high, rate, other]).status_code == 200
    path = f"/api/v1/sensors/{sensor}/ack"
    with Listener(central.url, central.key(), gw) as stream:
        r = central.post(path, {"by": "ann", "comment": "compressor failed; moved samples"})
        assert r.status_code == 200, r.text
        assert sorted(a["alarm_id"] for a in r.json()["acks"]) == sorted([high_id, rate_id])
        stream.wait_for(ev.ALARM_ACKNOWLEDGED)
    alarms = {a["alarm_id"]: a for a in central.get("/api/v1/alarms").json()["alarms"]}
    assert alarms[high_id]["acknowledged"] and alarms[rate_id]["acknowledged"]
    assert not alarms[other_id]["acknowledged"]
    assert alarms[high_id]["acks"][0]["comment"] == "compressor failed; moved samples"
    # Nothing left to acknowledge on that sensor; another sensor's alarm is refused.
    assert central.post(path, {"by": "ann", "comment": "again"}).status_code == 409
    foreign = central.post(path, {"by": "ann", "comment": "x", "alarm_ids": [other_id]})
    assert foreign.status_code == 404
    assert central.count("alarm_acks", "alarm_id = ?", (other_id,)) == 0
    assert central.post(path, {"by": "ann", "comment": "x"}, role="viewer").status_code == 403
    assert central.post(path, {"by": "ann", "comment": "x", "alarm_ids": "no"}).status_code == 400
