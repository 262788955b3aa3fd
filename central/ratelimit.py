"""Login rate limiting: failed sign-ins are counted per user name and per client address.

After `per_name` failures for one name (or `per_remote` from one address) within `window`
seconds, further attempts are answered 429 with `Retry-After` until the oldest failure
leaves the window, whatever the password. A successful sign-in clears the name's count.
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
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, name: str, remote: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead)."""
        now = self._clock()
        wait = 0.0
        for key in (("name", name), ("remote", remote)):
            times = self._recent(key, now)
            if len(times) >= self._limits[key[0]]:
                wait = max(wait, times[0] + self._window - now)
        return math.ceil(wait)

    def failed(self, name: str, remote: str) -> None:
        now = self._clock()
        if len(self._failures) > 100_000:  # bounded memory under a spray of names
            self._failures.clear()
        for key in (("name", name), ("remote", remote)):
            self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(("name", name), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
