"""A sensor's normal bucket medians over the baseline, kept as machine doubles.

The usual range is learnt from about 120 `(start, median)` pairs per sensor (30 minutes of
15-s buckets). As lists of float objects a pair cost ~128 bytes, ~15 MB for 1,000 sensors;
two `array('d')` hold it in 16. The checkpoint keeps the running release's format: a list
of `[start, median]` pairs.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence


class History:
    """Pairs (start time, median), added in increasing time (buckets close in order, late
    readings are left out); old ones are dropped from the front."""

    __slots__ = ("medians", "times")

    def __init__(self, pairs: Iterable[Sequence[float]] = ()) -> None:
        self.times = array("d")
        self.medians = array("d")
        for time, median in pairs:
            self.append(time, median)

    def append(self, time: float, median: float) -> None:
        self.times.append(time)
        self.medians.append(median)

    def drop_until(self, horizon: float) -> None:
        """Drop the leading pairs whose time is at or before `horizon`."""
        count = bisect_right(self.times, horizon)
        if count:
            del self.times[:count]
            del self.medians[:count]

    def first_time(self) -> float:
        return self.times[0]

    def medians_before(self, before: float) -> list[float]:
        return self.medians[: bisect_left(self.times, before)].tolist()

    def pairs(self) -> list[list[float]]:
        """The checkpoint form: `[[start, median], ...]`."""
        return [[t, m] for t, m in zip(self.times, self.medians, strict=True)]

    def __len__(self) -> int:
        return len(self.times)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return self.times == other.times and self.medians == other.medians

    def __repr__(self) -> str:
        return f"History({self.pairs()!r})"
