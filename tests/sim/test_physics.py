from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import pytest

from runtime.errors import ConfigError
from sim import Fleet, load_scenario, parse_event


def _trace(fleet: Fleet, name: str, minutes: int, key: str = "temperature") -> list[float]:
    values = []
    for _ in range(minutes):
        fleet.advance(60.0)
        values.append(fleet.readings(name)[key])
    return values


def test_ult_cycles_around_its_setpoint_like_a_sawtooth() -> None:
    fleet = Fleet(seed=3)
    temps = _trace(fleet, "F01", 120)
    assert min(temps) > -82.0 and max(temps) < -78.0
    assert abs(statistics.mean(temps) + 80.0) < 0.7
    # The compressor switches on and off: the temperature goes up and down many times.
    slopes = [b - a for a, b in itertools.pairwise(temps)]
    turns = sum(1 for s, t in itertools.pairwise(slopes) if s * t < 0)
    assert turns >= 10


def test_door_opening_warms_the_cabinet_then_it_recovers() -> None:
    fleet = Fleet(seed=1, events=[parse_event("door-open:F03@10m:4m")])
    before = _trace(fleet, "F03", 10)
    during = _trace(fleet, "F03", 4)
    after = _trace(fleet, "F03", 30)
    assert max(before) < -78.0
    assert during[-1] > -65.0  # minutes of open door: tens of degrees warmer
    assert max(during) == during[-1]  # warming all the while the door is open
    assert max(after[-10:]) < -78.0  # back on the sawtooth within half an hour
    assert fleet.readings("F01")["temperature"] < -78.0  # other freezers unaffected


def test_compressor_failure_climbs_about_one_degree_per_minute() -> None:
    fleet = Fleet(seed=1, events=[parse_event("compressor-failure:F12@5m")])
    _trace(fleet, "F12", 5)
    climb = _trace(fleet, "F12", 10)
    per_minute = (climb[-1] - climb[0]) / 9
    assert 0.7 <= per_minute <= 1.2
    assert all(b > a - 0.5 for a, b in itertools.pairwise(climb))  # noise only


def test_compressor_repaired_after_its_duration_recovers() -> None:
    fleet = Fleet(seed=1, events=[parse_event("compressor-failure:F12@0s:20m")])
    warm = _trace(fleet, "F12", 20)
    assert warm[-1] > -65.0
    cold = _trace(fleet, "F12", 40)
    assert cold[-1] < -78.0


def test_ln2_level_falls_by_boil_off_and_auto_fill_refills_it() -> None:
    fleet = Fleet(seed=1)
    levels = _trace(fleet, "ln2-dewar-1", 180, "level")
    assert levels[-1] < levels[0] - 4.0  # 2 %/h boil-off over three hours
    # A failing vacuum boils off ten times faster; the auto-fill catches it at 40 %.
    fleet = Fleet(seed=1, events=[parse_event("boil-off:ln2@0s")])
    levels = _trace(fleet, "ln2-dewar-1", 240, "level")
    assert min(levels) > 38.0
    assert any(b > a + 1.0 for a, b in itertools.pairwise(levels))  # refills


def test_refill_failure_lets_the_ln2_level_fall_below_the_alarm() -> None:
    events = [parse_event("boil-off:ln2@0s"), parse_event("refill-failure:ln2@0s")]
    fleet = Fleet(seed=1, events=events)
    levels = _trace(fleet, "ln2-dewar-1", 240, "level")
    assert levels[-1] < 30.0


def test_co2_drift_falls_and_door_opening_vents_the_incubator() -> None:
    fleet = Fleet(seed=1, events=[parse_event("co2-drift:incubator-3@0s")])
    co2 = _trace(fleet, "incubator-3", 20, "co2")
    assert 3.8 < co2[-1] < 4.3  # 0.05 %/min for 20 minutes from 5 %
    fleet = Fleet(seed=1, events=[parse_event("door-open:incubator-3@0s:2m")])
    co2 = _trace(fleet, "incubator-3", 30, "co2")
    assert co2[1] < 4.0
    assert abs(co2[-1] - 5.0) < 0.3


def test_same_seed_same_readings_other_seed_other_readings() -> None:
    def run(seed: int) -> list[float]:
        fleet = Fleet(seed=seed, events=[parse_event("door-open:F03@1m:2m")])
        out = []
        for _ in range(30):
            fleet.advance(7.5)
            out += [r["temperature"] for r in (fleet.readings("F03"), fleet.readings("F07"))]
            out.append(fleet.readings("ln2-dewar-1")["level"])
        return out

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_dropout_and_garbage_are_flags_for_the_outputs() -> None:
    fleet = Fleet(seed=1, events=[parse_event("dropout:F02@1m:1m"), parse_event("garbage:ln2@30s")])
    assert not fleet.silent("F02")
    fleet.advance(60.0)
    assert fleet.silent("F02")
    assert fleet.take_garbage("ln2-dewar-1")
    assert not fleet.take_garbage("ln2-dewar-1")  # once
    fleet.advance(60.0)
    assert not fleet.silent("F02")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("door-open:F03@30s", "needs a duration"),
        ("melt:F03@30s", "unknown event kind"),
        ("door-open:F03@soon:4m", "invalid duration"),
        ("garbage:ln2@1m:2m", "takes no duration"),
        ("door-open F03", "expected KIND:TARGET@AT"),
    ],
)
def test_bad_event_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_event(spec)


def test_fleet_rejects_unknown_devices_and_impossible_events() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'F99' \(known: F01..F12"):
        Fleet(events=[parse_event("door-open:F99@1m:1m")])
    with pytest.raises(ValueError, match="does not support compressor-failure"):
        Fleet(events=[parse_event("compressor-failure:ln2@1m")])


def test_scenario_file_loads_and_errors_name_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "events:\n"
        "  - {kind: door-open, target: F03, at: 30s, for: 4m}\n"
        "  - kind: compressor-failure\n"
        "    target: F12\n"
        "    at: 1h\n"
    )
    events = load_scenario(good)
    assert [(e.kind, e.target, e.at, e.duration) for e in events] == [
        ("door-open", "F03", 30.0, 240.0),
        ("compressor-failure", "F12", 3600.0, None),
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("events:\n  - {kind: door-open, target: F03, at: 30s}\n  - {kind: x}\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(bad)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{bad}:2:5: events[0]: door-open needs a duration")
    assert lines[1].startswith(f"{bad}:3:5: events[1]: missing key 'target'")
