"""Judgements of one sensor's events (no Redis): predictions, statuses, sensor faults."""

from __future__ import annotations

from typing import Any

from analytics.judge import Judge, SensorState
from analytics.settings import Judgement
from runtime.events import (
    ANALYTICS_PREDICTION,
    ANALYTICS_SENSOR_FAULT,
    ANALYTICS_STATUS,
    CloudEvent,
    parse_time,
)
from tests.analytics.scenario import (
    FREEZER_ALARMS,
    T0,
    Gateway,
    compressor_failure,
    door_opening,
    freezer,
)

SENSOR = "ult-F12.temp"


def judge_all(events: list[CloudEvent], cfg: Judgement | None = None) -> list[CloudEvent]:
    judge = Judge("test", cfg or Judgement())
    state = SensorState(SENSOR)
    out: list[CloudEvent] = []
    for event in events:
        out.extend(judge.apply(state, event))
    return out


def of_type(events: list[CloudEvent], type_: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == type_]


def first_crossing(events: list[CloudEvent], above: float) -> float:
    return next(e.time for e in events if e.data.get("value", -999) > above and e.time)


def test_compressor_failure_is_predicted_well_before_the_limit() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, compressor_failure(onset=1800.0), 3600.0)
    out = judge_all(gw.events)

    predictions = of_type(out, ANALYTICS_PREDICTION)
    assert predictions, "no prediction raised"
    raised = next(e for e in out if e.type == ANALYTICS_PREDICTION)
    assert raised.data["action"] == "raised" and raised.data["rule"] == "high"
    assert raised.data["threshold"] == -70.0
    breach = first_crossing(gw.events, -70.0)
    assert raised.time is not None
    lead = breach - raised.time
    assert lead >= 300.0, f"raised only {lead:.0f}s before the breach"
    predicted = parse_time(raised.data["predicted_at"])
    assert abs(predicted - breach) <= 0.2 * lead
    assert 50.0 < raised.data["slope_per_h"] < 70.0  # ~1 degC/min
    assert sum(1 for p in predictions if p["action"] == "raised") == 1


def test_status_warns_while_predicting_and_turns_critical_past_the_limit() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, compressor_failure(onset=1800.0), 3000.0)
    statuses = [d["status"] for d in of_type(judge_all(gw.events), ANALYTICS_STATUS)]
    assert statuses == ["normal", "warning", "critical"]


def test_three_minute_door_opening_raises_no_prediction() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, door_opening(at=1800.0, minutes=3.0), 3600.0)
    out = judge_all(gw.events)
    assert of_type(out, ANALYTICS_PREDICTION) == []
    assert of_type(out, ANALYTICS_SENSOR_FAULT) == []


def test_prediction_is_cleared_when_the_trend_recovers() -> None:
    def repaired(s: float) -> float:  # warms from 1800 s, compressor back at 2100 s
        if s < 1800.0:
            return -80.0
        if s < 2100.0:
            return -80.0 + (s - 1800.0) / 60.0
        return max(-80.0, -75.0 - (s - 2100.0) / 60.0)

    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, repaired, 3600.0)
    actions = [d["action"] for d in of_type(judge_all(gw.events), ANALYTICS_PREDICTION)]
    assert actions[0] == "raised" and actions[-1] == "cleared"
    cleared = [d for d in of_type(judge_all(gw.events), ANALYTICS_PREDICTION)][-1]
    assert cleared["predicted_at"] is None


def test_stuck_sensor_is_flagged_and_cleared_when_it_moves() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, lambda s: -80.0, 600.0)
    for i in range(500):  # a failed probe repeating its last value for ~42 minutes
        gw.reading(SENSOR, T0 + 600.0 + i * 5.0, -80.13)
    gw.reading(SENSOR, T0 + 3200.0, -80.02)
    faults = of_type(judge_all(gw.events), ANALYTICS_SENSOR_FAULT)
    assert [(f["fault"], f["state"]) for f in faults] == [("stuck", "raised"), ("stuck", "cleared")]


def test_noisy_sensor_and_impossible_jump_are_flagged() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, lambda s: -80.0, 1800.0)
    freezer(gw, SENSOR, lambda s: -80.0, 600.0, noise=3.0, start=T0 + 1800.0)
    gw.reading(SENSOR, T0 + 3000.0, -80.0)
    gw.reading(SENSOR, T0 + 3001.0, 25.0)  # 105 degrees in a second
    faults = {(f["fault"], f["state"]) for f in of_type(judge_all(gw.events),
                                                        ANALYTICS_SENSOR_FAULT)}  # fmt: skip
    assert ("noisy", "raised") in faults
    assert ("jump", "raised") in faults


def test_same_backlog_gives_same_judgements() -> None:
    gw = Gateway()
    gw.describe(SENSOR, FREEZER_ALARMS)
    freezer(gw, SENSOR, compressor_failure(onset=900.0), 2400.0)
    first = [e.to_dict() for e in judge_all(gw.events)]
    again = [e.to_dict() for e in judge_all(gw.events)]
    assert first == again and first
