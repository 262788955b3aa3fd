"""The one retry policy: capped exponential backoff with full jitter.

Every retry loop in TracSeq Edge (MQTT reconnect, Modbus polls, Redis, sync, central's
database) takes its delays from a `Backoff`, and logs its first failure and its recovery
through `RetryLog` rather than every attempt.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays of `base * 2**n` capped at `cap`, each drawn from [0, delay] (full jitter)."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self, at_least: float = 0.0) -> float:
        """The wait before the next attempt; `at_least` honours a server's Retry-After."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return max(at_least, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """Start again from the shortest delay (after a success)."""
        self.attempts = 0


@dataclass(slots=True)
class RetryLog:
    """Logs the first failure of a run of failures and the recovery, not every attempt."""

    logger: logging.Logger
    what: str
    failures: int = 0

    def failed(self, error: BaseException | str) -> None:
        self.failures += 1
        if self.failures == 1:
            self.logger.warning("%s failed, retrying with backoff: %s", self.what, error)

    def succeeded(self) -> None:
        if self.failures:
            self.logger.info("%s recovered after %d failed attempts", self.what, self.failures)
        self.failures = 0
