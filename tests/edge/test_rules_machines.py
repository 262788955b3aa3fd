"""The pure rule state machines (edge.alarms.rules) under random timelines (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import edgeconfig as config
from edge.alarms import rules

steps = st.lists(
    st.tuples(st.floats(0, 120), st.floats(-80, -60), st.booleans()), min_size=1, max_size=80
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, delay=st.sampled_from(["0s", "1m", "5m"]), gap=st.floats(0, 5))
def test_high_rule_raises_only_after_the_delay_and_alternates(
    steps: list[tuple[float, float, bool]], delay: str, gap: float
) -> None:
    cfg = config.HighRule.model_validate({"above": -70, "for": delay, "clear_below": -70 - gap})
    rule = rules.HighRule(cfg)
    t = 0.0
    history: list[tuple[float, float]] = []
    transitions: list[tuple[rules.Transition, int]] = []  # with the readings seen by then
    for dt, value, timer_first in steps:
        t += dt
        if timer_first and (due := rule.deadline()) is not None and due <= t:
            fired = rule.on_deadline(due, due)
            if fired is not None:
                transitions.append((fired, len(history)))
        got = rule.on_sample(rules.Sample(value, t, t, t))
        history.append((t, value))
        if got is not None:
            transitions.append((got, len(history)))
    for index, (transition, seen) in enumerate(transitions):
        assert isinstance(transition, rules.Raise if index % 2 == 0 else rules.Clear)
        if isinstance(transition, rules.Raise):
            assert transition.time - transition.since >= cfg.for_ - 1e-9
            # `since` is the first reading of the unbroken run above the threshold
            run = history[:seen]
            while run and run[-1][1] > -70:
                run = run[:-1]
            streak = history[len(run) : seen]
            assert streak and streak[0][0] == transition.since
        else:
            assert transition.value is not None and transition.value <= -70 - gap


@settings(max_examples=100, deadline=None)
@given(gaps=st.lists(st.floats(0, 200), min_size=1, max_size=40))
def test_offline_rule_raises_once_per_silence(gaps: list[float]) -> None:
    rule = rules.OfflineRule(config.OfflineRule.model_validate({"after": "2m"}), 0.0, 0.0)
    t = 0.0
    raises = clears = expected = 0
    for gap in gaps:
        due = rule.deadline()
        assert due is not None
        if t + gap >= due:
            expected += 1
            assert isinstance(rule.on_deadline(t + gap, t + gap), rules.Raise)
            assert rule.on_deadline(t + gap + 1000, t + gap + 1000) is None
            raises += 1
        t += gap
        if isinstance(rule.on_sample(rules.Sample(1.0, t, t, t)), rules.Clear):
            clears += 1
    assert raises == clears == expected


def test_rate_rule_needs_three_readings_across_half_the_window() -> None:
    rule = rules.RateRule(config.RateRule.model_validate({"rise_per_minute": 1.0, "window": "5m"}))
    assert rule.on_sample(rules.Sample(-80, 0, 0, 0)) is None
    assert rule.on_sample(rules.Sample(-70, 10, 10, 10)) is None  # 60 degC/min, two points
    assert rule.on_sample(rules.Sample(-60, 20, 20, 20)) is None  # three, but span 20 s
    assert rule.slope() is None
    raised = rule.on_sample(rules.Sample(-50, 150, 150, 150))
    assert isinstance(raised, rules.Raise)
    assert raised.value >= 1.0


def test_late_readings_neither_raise_again_nor_clear_a_newer_alarm() -> None:
    """One door opening, one alarm, whatever order redelivery commits its readings in."""
    cfg = config.HighRule.model_validate({"above": -70, "for": "0s", "clear_below": -72})
    rule = rules.HighRule(cfg)

    def sample(t: float, value: float) -> rules.Transition | None:
        return rule.on_sample(rules.Sample(value, t, 100 + t, 100 + t))

    assert sample(0, -80) is None
    assert isinstance(sample(10, -65), rules.Raise)
    assert isinstance(sample(20, -79), rules.Clear)
    assert sample(5, -66) is None, "a late warm reading of the same opening: no second alarm"
    assert isinstance(sample(30, -65), rules.Raise)
    assert sample(25, -79) is None, "a late cold reading does not clear the newer alarm"
    assert rule.active_since == 30
