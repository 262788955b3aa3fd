"""Login rate limiting: sign-in attempts are counted per user name and per client address.

An attempt is counted *before* its password is checked (`attempt`), in the same step
that checks the limit, with no await in between: 50 guesses sent at once meet the limit
like 50 sent one after another (counting after the slow password check let all of them
through). After `per_name` counted attempts for one name (or `per_remote` from one
address) within `window` seconds, further attempts are answered 429 with `Retry-After`
until the oldest leaves the window, whatever the password. A successful sign-in takes its
attempt back: it clears the name's count and removes one attempt from the address's.
In memory, per process: a restart forgets the counts (the audit trail keeps the failures).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(
        self,
        *,
        per_name: int = 5,
        per_remote: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"name": per_name, "remote": per_remote}
        self._window = window
        self._clock = clock
        self._attempts: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, name: str, remote: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead)."""
        now = self._clock()
        wait = 0.0
        for key in (("name", name), ("remote", remote)):
            times = self._recent(key, now)
            if len(times) >= self._limits[key[0]]:
                wait = max(wait, times[0] + self._window - now)
        return math.ceil(wait)

    def attempt(self, name: str, remote: str) -> int:
        """Check the limit and, when under it, count this attempt: 0 to go ahead (counted),
        else the seconds to wait (not counted). Call before verifying the password."""
        wait = self.retry_after(name, remote)
        if wait:
            return wait
        now = self._clock()
        if len(self._attempts) > 100_000:  # bounded memory under a spray of names
            self._attempts.clear()
        for key in (("name", name), ("remote", remote)):
            self._recent(key, now).append(now)
        return 0

    def succeeded(self, name: str, remote: str) -> None:
        """The counted attempt was right: the name starts afresh, the address gets it back."""
        self._attempts.pop(("name", name), None)
        times = self._attempts.get(("remote", remote))
        if times:
            times.pop()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._attempts.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
