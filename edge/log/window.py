"""The commit window: when the writer commits what is waiting.

Every commit costs a disk sync (synchronous=FULL), whatever its size. Sensors publish on
their own schedules, so at modest rates readings arrive one at a time; committing each at
once costs a sync per reading. The window bounds that:

- **idle**: the previous commit started at least `window` ago, so a lone reading (an idle
  gateway, a first reading after a pause) is committed at once;
- **steady**: a commit started less than `window` ago, so the writer waits until `window`
  after that commit for more rows: commits start at most once per `window`, so syncs/s stay
  at or below 1/window (40/s for the default 25 ms; with the WAL checkpoints' own syncs,
  at most 50/s) at any steady rate;
- **lazy**: a batch of cursor moves only (a publisher confirming what it sent) waits up to
  ten windows, or until a reading arrives to go with it: cursors only trail, and a commit of
  its own would cost a second sync per reading at low rates. Going with a reading, cursor
  moves are written at most once per ten windows (`cursors_due`): each write is one more
  page in that commit's WAL append, and after a crash a cursor at most that far behind
  only means a few entries sent again (delivery is at-least-once, ids make it idempotent);
- **never held**: an urgent request (an alarm, a producer that can receive nothing more
  until this commit — an MQTT connection with its inflight window full, a closing log), a
  full batch, or a stream that went quiet (no row for `quiet_factor` mean arrival gaps, at
  least a quarter window: a broker whose window is full sends nothing more) commits at once.

The durable-ack rule is untouched: producers are told (and acknowledge) only after the commit.
Pure bookkeeping with an injectable clock, so its behaviour is tested without timing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

_SMOOTHING = 0.2  # weight of the newest gap in the mean arrival gap
_LAZY_WINDOWS = 10  # how many windows a batch of cursor moves alone may wait


class CommitWindow:
    """Decides, for the writer thread, how long what is waiting may wait for more."""

    def __init__(
        self,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        quiet_factor: float = 4.0,
    ) -> None:
        self.window = window
        self.clock = clock
        self.quiet_factor = quiet_factor
        self._last_commit = -math.inf
        self._last_arrival = -math.inf
        self._cursors_written = -math.inf
        self._gap = math.inf  # smoothed seconds between arrivals

    def arrived(self, at: float) -> None:
        """A request reached the writer (`at`: when it was submitted, on `clock`)."""
        gap = at - self._last_arrival
        if math.isfinite(gap) and gap >= 0:
            self._gap = gap if math.isinf(self._gap) else self._gap + _SMOOTHING * (gap - self._gap)
        self._last_arrival = max(self._last_arrival, at)

    def committing(self) -> None:
        """A commit starts now."""
        self._last_commit = self.clock()

    def cursors_written(self) -> None:
        """The commit starting now writes cursor moves."""
        self._cursors_written = self.clock()

    def cursors_due(self) -> bool:
        """Whether a commit of readings should take waiting cursor moves along now."""
        return self.window <= 0 or self.clock() >= self._cursors_written + self._lazy_for

    @property
    def _lazy_for(self) -> float:
        return _LAZY_WINDOWS * self.window

    def deadline(self, *, urgent: bool, full: bool, lazy: bool = False) -> float | None:
        """Until when (on `clock`) to wait for more rows; None: commit now.

        `lazy`: the batch holds only cursor moves (nobody waits on it to acknowledge)."""
        if urgent or full or self.window <= 0:
            return None
        now = self.clock()
        if lazy:
            due = max(self._last_commit, self._cursors_written) + self._lazy_for
            return None if now >= due else due
        due = self._last_commit + self.window
        if now >= due:
            return None  # idle: a lone reading is committed at once
        quiet = self._last_arrival + max(self.quiet_factor * self._gap, self.window / 4)
        if now >= quiet:
            return None  # nothing is coming (or the producer cannot send more)
        return min(due, quiet)
