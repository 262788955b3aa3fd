"""The first prediction of a failure lands within 25 % of the time that was left, for
linear and Newton warming and for the simulator's thermostat-cycled ULT; a thermostat's
sawtooth and a door opening predict nothing; readings split between two consumers, with
a failover anywhere, raise one prediction."""

from __future__ import annotations

import random

import pytest

from runtime.events import ANALYTICS_PREDICTION, CloudEvent
from sim.physics import ULT, Cabinet
from tests.analytics.failures import (
    FAILOVER_SEEDS,
    Outcome,
    failover_patterns,
    linear,
    newton,
    slow_rise,
    split_between_consumers,
    thermostat,
)
from tests.analytics.scenario import FREEZER_ALARMS, T0, Gateway
from tests.analytics.test_judgements import SENSOR, judge_all

CASES = [
    *[(linear, r, e, n) for r in (0.5, 1.0, 2.0) for e, n in ((1.0, 0.0), (5.0, 0.05))],
    *[(newton, r, e, n) for r in (0.5, 1.0, 2.0) for e, n in ((1.0, 0.0), (5.0, 0.05))],
    (linear, 1.0, 30.0, 0.1),
    (newton, 1.0, 30.0, 0.1),
]


def assert_close(outcome: Outcome) -> None:
    assert outcome.raised is not None, f"{outcome.name}: no prediction before the breach"
    assert 0.0 < outcome.raised < outcome.breach, outcome
    assert outcome.error is not None and abs(outcome.error) <= 0.25, outcome


@pytest.mark.parametrize(("shape", "per_min", "every", "noise"), CASES)
def test_first_prediction_is_within_a_quarter_of_the_time_left(
    shape: object, per_min: float, every: float, noise: float
) -> None:
    assert callable(shape)
    assert_close(shape(per_min, every, noise, seed=1))


def test_one_degree_per_minute_from_minus_80_is_not_a_third_early() -> None:
    outcome = linear(1.0, 5.0, 0.0, seed=1)
    assert_close(outcome)
    assert outcome.breach == pytest.approx(600.0, abs=5.0)
    assert outcome.error is not None and abs(outcome.error) <= 0.1


@pytest.mark.parametrize("seed", range(6))
def test_thermostat_cycles_predict_nothing_until_the_compressor_dies(seed: int) -> None:
    # The sawtooth rises 1 degC/min for three minutes in every cycle: before the usual
    # range was learnt, each of those rises looked like a failure.
    assert_close(thermostat(seed))


@pytest.mark.parametrize("seed", range(3))
def test_door_openings_on_a_thermostat_sawtooth_predict_nothing(seed: int) -> None:
    cabinet = Cabinet("F12", "ult", ULT, random.Random(seed))
    gateway = Gateway()
    gateway.describe(SENSOR, FREEZER_ALARMS)
    for t in range(1, 3601):
        cabinet.set_condition("door-open", 1800 <= t < 1980 or 2700 <= t < 2760)
        cabinet.step(1.0)
        if t % 5 == 0:
            cabinet.measure()
            gateway.reading(SENSOR, T0 + t, round(cabinet.readings["temperature"], 2))
    assert max(e.data.get("value", -99.0) for e in gateway.events) > -76.0  # a real opening
    predictions = [e for e in judge_all(gateway.events) if e.type == ANALYTICS_PREDICTION]
    assert predictions == []


def actions(out: list[CloudEvent]) -> list[str]:
    return [e.data["action"] for e in out if e.type == ANALYTICS_PREDICTION]


def test_a_slow_noisy_rise_is_predicted_whatever_its_noise() -> None:
    # A trough every few buckets in the noise kept the fit's run short: seed 17 raised nothing.
    missed = [s for s in range(20) if "raised" not in actions(judge_all(slow_rise(s).events))]
    assert missed == []


def test_a_failover_anywhere_around_the_onset_raises_one_prediction_and_no_clear() -> None:
    # Before: a consumer killed holding the readings of 1800-1895 s (seed 13, batch 18)
    # or 1900-1995 s (seed 15) made the episode clear and raise again.
    wrong = {}
    for seed in FAILOVER_SEEDS:
        events = slow_rise(seed).events
        for late in failover_patterns():
            got = actions(split_between_consumers(events, late))
            if got.count("raised") != 1 or "cleared" in got:
                wrong[(seed, *sorted(late))] = got
    assert wrong == {}
