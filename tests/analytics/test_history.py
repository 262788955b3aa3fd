"""A sensor's trend history costs machine doubles, not float objects, and its checkpoint
is the running release's: `"history": [[start, median], ...]`, read and written both ways."""

from __future__ import annotations

import gc
import math
import random
import sys
from pathlib import Path

import orjson

from analytics.limits import Limits
from analytics.predict import Prediction, Trend
from analytics.settings import Judgement

CFG = Judgement()
LIMITS = Limits(high=-70.0, low=-95.0)
T0 = 1_780_000_000.0
ONSET = 3600.0  # an hour of thermostat cycles, then the compressor dies
CHECKPOINT = 3000.0  # ten minutes before the failure, the sensor moves to another instance
# written by the release before compact histories, at CHECKPOINT, from these readings
OLD_CHECKPOINT = Path(__file__).parents[1] / "data" / "trend_checkpoint_v1.json"

Reading = tuple[float, float]


def readings(seconds: float, every: float = 5.0) -> list[Reading]:
    """A ULT cycling 2 degC around -80 every 10 minutes, warming 0.5 degC/min after ONSET."""
    rng = random.Random(7)
    out = []
    for i in range(int(seconds / every)):
        s = i * every
        value = -80.0 + 2.0 * math.sin(2.0 * math.pi * s / 600.0) + rng.gauss(0.0, 0.05)
        value += max(0.0, s - ONSET) / 120.0
        out.append((T0 + s, round(value, 2)))
    return out


def feed(trend: Trend, part: list[Reading]) -> list[Prediction]:
    return [p for t, v in part for p in trend.add(t, v, LIMITS, CFG, f"e{t}")]


def deep_size(obj: object) -> int:
    """Bytes held by `obj` and everything it references (types and modules aside)."""
    seen: set[int] = set()
    todo = [obj]
    total = 0
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        todo.extend(gc.get_referents(o))
    return total


def test_two_hours_of_history_cost_at_most_24_bytes_a_pair() -> None:
    trend = Trend()
    feed(trend, readings(7200.0))
    assert len(trend.history) == CFG.baseline / CFG.bucket
    # 1,000 sensors' baselines were ~15 MB as lists of float objects (~128 bytes a pair)
    assert deep_size(trend.history) / len(trend.history) <= 24.0


def checkpoint(trend: Trend) -> dict[str, object]:
    raw = orjson.loads(orjson.dumps(trend.to_dict()))
    assert isinstance(raw, dict)
    return raw


def test_a_trend_restored_from_its_checkpoint_predicts_the_same() -> None:
    before = [r for r in readings(ONSET + 1800.0) if r[0] < T0 + CHECKPOINT]
    after = [r for r in readings(ONSET + 1800.0) if r[0] >= T0 + CHECKPOINT]
    trend = Trend()
    feed(trend, before)
    raw = checkpoint(trend)
    history = raw["history"]
    assert isinstance(history, list) and len(history) == len(trend.history)
    assert all(isinstance(p, list) and len(p) == 2 for p in history)
    restored = Trend.from_dict(raw)
    assert restored == trend

    expected = feed(trend, after)
    assert [p.action for p in expected][:1] == ["raised"]
    assert feed(restored, after) == expected
    assert checkpoint(restored) == checkpoint(trend)


def test_a_checkpoint_written_by_the_previous_release_is_read_and_written_alike() -> None:
    old = orjson.loads(OLD_CHECKPOINT.read_bytes())
    part = readings(ONSET + 1800.0)
    fresh = Trend()
    feed(fresh, [r for r in part if r[0] < T0 + CHECKPOINT])
    assert checkpoint(fresh) == old

    restored = Trend.from_dict(old)
    after = [r for r in part if r[0] >= T0 + CHECKPOINT]
    expected = feed(fresh, after)
    assert expected
    assert feed(restored, after) == expected
