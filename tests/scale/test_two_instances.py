"""Two central instances on one PostgreSQL behave as one service (issue 9, scale-out)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from runtime import events as ev
from tests.central.conftest import event, gateway_name, reading
from tests.scale.conftest import Pair, Stream
from tests.servers import wait_until


def test_event_ingested_on_one_instance_is_streamed_by_the_other(pair: Pair) -> None:
    gw = gateway_name()
    token = pair.a.token(gw)
    with Stream(pair.b) as on_b:
        assert pair.a.ingest(token, [reading(gw, 1, f"{gw}.temp", -80.5)]).status_code == 200
        wait_until(lambda: on_b.about(f'"{gw}:1"'), timeout=10)
    frame = on_b.about(f'"{gw}:1"')[0]
    assert frame["event"] == ev.READING


def test_a_browser_resumes_on_the_other_instance_with_last_event_id(pair: Pair) -> None:
    gw = gateway_name()
    token = pair.a.token(gw)
    with Stream(pair.b) as on_b:
        pair.a.ingest(token, [reading(gw, 1, f"{gw}.temp", -80.0)])
        wait_until(lambda: on_b.about(f'"{gw}:1"'), timeout=10)
        last_id = on_b.about(f'"{gw}:1"')[0]["id"]
    # Disconnected: two more events arrive (through either instance) ...
    pair.b.ingest(token, [reading(gw, 2, f"{gw}.temp", -79.0)])
    pair.a.ingest(token, [reading(gw, 3, f"{gw}.temp", -78.0)])
    wait_until(lambda: _streamed_on(pair, f"{gw}:3"), timeout=10)
    # ... and the browser reconnects to A with B's last id: no reset, nothing missed.
    with Stream(pair.a, last_event_id=last_id) as on_a:
        wait_until(lambda: on_a.about(f'"{gw}:3"'), timeout=10)
        assert [f["event"] for f in on_a.frames if f["event"] == "reset"] == []
        assert [_event_id(f) for f in on_a.about(gw)] == [f"{gw}:2", f"{gw}:3"]


def test_offline_watchdogs_of_two_instances_raise_one_alarm_per_gateway(pair: Pair) -> None:
    gateways = [gateway_name() for _ in range(12)]
    tokens = {gw: pair.a.token(gw) for gw in gateways}
    with Stream(pair.a) as on_a:
        for i, gw in enumerate(gateways):  # heard from once, then silent
            central = pair.both[i % 2]
            beat = event(gw, 1, ev.GATEWAY_HEARTBEAT, uptime_s=1, pending=0)
            assert central.ingest(tokens[gw], [beat]).status_code == 200
        wait_until(lambda: len(_active_offline(pair, gateways)) == len(gateways), timeout=20)
        raised = [f for f in on_a.frames if f["event"] == ev.ALARM_RAISED]
        wait_until(lambda: len(_raised(on_a, gateways)) >= len(gateways), timeout=10)
        # Each gateway back once, through either instance: each alarm cleared once.
        for i, gw in enumerate(gateways):
            beat = event(gw, 2, ev.GATEWAY_HEARTBEAT, uptime_s=5, pending=0)
            assert pair.both[(i + 1) % 2].ingest(tokens[gw], [beat]).status_code == 200
        wait_until(lambda: len(_cleared(on_a, gateways)) >= len(gateways), timeout=10)
    with psycopg.connect(pair.db) as conn:
        rows = conn.execute(
            """SELECT gateway, COUNT(*), COUNT(cleared_at) FROM alarms
            WHERE rule = 'gateway_offline' AND gateway = ANY(%s) GROUP BY gateway""",
            (gateways,),
        ).fetchall()
    assert sorted(rows) == sorted((gw, 1, 1) for gw in gateways)
    raised = _raised(on_a, gateways)
    assert sorted(f["subject"] for f in raised) == sorted(gateways)  # announced once each
    raised_metrics = sum(
        _metric(c, "tracseq_central_gateway_offline_alarms_total") for c in pair.both
    )
    assert raised_metrics >= len(gateways)


def test_both_instances_answer_queries_alike(pair: Pair) -> None:
    gw = gateway_name()
    token = pair.a.token(gw)
    start = time.time() - 600
    for seq in range(1, 41):  # batches alternate between the instances
        central = pair.both[seq % 2]
        at = start + seq
        answer = central.ingest(token, [reading(gw, seq, f"{gw}.temp", -80 + seq / 10, at=at)])
        assert answer.json() == {"accepted": 1, "duplicates": 0}
    raised = event(gw, 41, ev.ALARM_RAISED, f"{gw}.temp", rule="high", threshold=-70,
                   value=-69.0, since=ev.format_time(start), alarm_id=f"{gw}:a1")  # fmt: skip
    pair.b.ingest(token, [raised])
    ack = pair.a.post(f"/api/v1/alarms/{gw}:a1/ack", {"by": "Ada", "comment": "door closed"})
    assert ack.status_code == 200, ack.text
    window = {"from": str(start), "to": str(start + 100)}

    def view(central: Any) -> list[Any]:
        sensors = [
            s for s in central.get("/api/v1/sensors").json()["sensors"] if s["id"] == gw + ".temp"
        ]
        gateways = [g for g in central.get("/api/v1/gateways").json()["gateways"] if g["id"] == gw]
        alarms = [a for a in central.get("/api/v1/alarms", state="all").json()["alarms"]
                  if a["gateway"] == gw]  # fmt: skip
        for alarm in alarms:
            alarm.pop("duration_s")  # of an active alarm: grows while we ask
        raw = central.get(f"/api/v1/sensors/{gw}.temp/readings", **window).json()
        steps = central.get(f"/api/v1/sensors/{gw}.temp/readings", step="10s", **window).json()
        return [sensors, gateways, alarms, raw, steps]

    on_a, on_b = view(pair.a), view(pair.b)
    assert on_a == on_b
    assert len(on_a[3]["readings"]) == 40
    assert on_a[2][0]["acks"][0]["by"] == "Ada"


def _streamed_on(pair: Pair, event_id: str) -> bool:
    with psycopg.connect(pair.db) as conn:
        row = conn.execute("SELECT 1 FROM readings WHERE id = %s", (event_id,)).fetchone()
    return row is not None


def _event_id(frame: dict[str, str]) -> str:
    import orjson

    return str(orjson.loads(frame["data"])["id"])


def _active_offline(pair: Pair, gateways: list[str]) -> list[dict[str, Any]]:
    alarms = pair.b.get("/api/v1/alarms", state="active").json()["alarms"]
    return [a for a in alarms if a["rule"] == "gateway_offline" and a["gateway"] in gateways]


def _offline_frames(stream: Stream, gateways: list[str], kind: str) -> list[dict[str, Any]]:
    import orjson

    out = []
    for frame in list(stream.frames):
        if frame.get("event") != kind:
            continue
        data = orjson.loads(frame["data"])
        if data.get("subject") in gateways and data["data"].get("rule") == "gateway_offline":
            out.append(data)
    return out


def _raised(stream: Stream, gateways: list[str]) -> list[dict[str, Any]]:
    return _offline_frames(stream, gateways, ev.ALARM_RAISED)


def _cleared(stream: Stream, gateways: list[str]) -> list[dict[str, Any]]:
    return _offline_frames(stream, gateways, ev.ALARM_CLEARED)


def _metric(central: Any, name: str) -> float:
    text = central.client.get(f"{central.url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
