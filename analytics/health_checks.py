"""Is the sensor lying? Stuck probes, noise far above normal, out-of-physics jumps.

- stuck: the value is unchanged to the last digit for `stuck_after` seconds and at least
  `stuck_min_readings` readings (a failed probe repeating its last value); cleared when it moves.
- noisy: the short-term noise (mean absolute second difference, so a steady trend is not
  noise) stays above `noise_factor` times the sensor's own long-term noise and above
  `noise_min` for `noise_readings` readings in a row; cleared when it falls to half of that.
- jump: one step between consecutive readings larger than `jump_min` and faster than
  `jump_rate` units/s (one event per jump; further jumps within `JUMP_QUIET` s are folded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics.settings import Judgement

NOISE_READINGS = 20
JUMP_QUIET = 300.0
_SHORT = 0.2  # EWMA weights: short-term noise and the sensor's long-term normal
_LONG = 0.01
_WARMUP = 50


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault raised or cleared by one reading."""

    fault: str  # stuck | noisy | jump
    state: str  # raised | cleared
    since: float
    detail: str


@dataclass(slots=True)
class Health:
    """Per-sensor health-check state; serialisable for the checkpoint."""

    last_time: float | None = None
    last_value: float | None = None
    prev_value: float | None = None
    same_since: float | None = None
    same_count: int = 0
    stuck: bool = False
    short_noise: float = 0.0
    long_noise: float = 0.0
    samples: int = 0
    noisy_run: int = 0
    noisy_since: float | None = None
    last_jump: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Health:
        return cls(**{k: raw[k] for k in cls.__slots__ if k in raw})

    def add(self, time: float, value: float, cfg: Judgement) -> list[Fault]:
        """Check one in-order reading; returns the faults it raises or clears."""
        out: list[Fault] = []
        last_time, last_value = self.last_time, self.last_value
        if last_time is not None and last_value is not None:
            self._jump(time, value, last_time, last_value, cfg, out)
            self._noise(time, value, last_value, cfg, out)
        self._stuck(time, value, cfg, out)
        self.prev_value, self.last_value, self.last_time = last_value, value, time
        return out

    def _stuck(self, time: float, value: float, cfg: Judgement, out: list[Fault]) -> None:
        if value == self.last_value and self.same_since is not None:
            self.same_count += 1
            held = time - self.same_since
            if (
                not self.stuck
                and held >= cfg.stuck_after
                and self.same_count >= cfg.stuck_min_readings
            ):
                self.stuck = True
                out.append(
                    Fault("stuck", "raised", self.same_since,
                          f"value {value!r} unchanged for {held:.0f}s ({self.same_count} readings)")
                )  # fmt: skip
            return
        if self.stuck and self.same_since is not None:
            out.append(Fault("stuck", "cleared", self.same_since, f"value moved to {value!r}"))
        self.stuck = False
        self.same_since, self.same_count = time, 1

    def _noise(
        self, time: float, value: float, last_value: float, cfg: Judgement, out: list[Fault]
    ) -> None:
        if self.prev_value is None:
            return
        wiggle = abs(value - 2 * last_value + self.prev_value)
        self.samples += 1
        self.short_noise += _SHORT * (wiggle - self.short_noise)
        if self.noisy_since is None:  # the normal is learnt only while the sensor is sane
            self.long_noise += (_LONG if self.samples > _WARMUP else 1 / self.samples) * (
                wiggle - self.long_noise
            )
        if self.samples <= _WARMUP:
            return
        limit = max(cfg.noise_factor * self.long_noise, cfg.noise_min)
        if self.noisy_since is None:
            self.noisy_run = self.noisy_run + 1 if self.short_noise > limit else 0
            if self.noisy_run >= NOISE_READINGS:
                self.noisy_since = time
                out.append(
                    Fault("noisy", "raised", time,
                          f"noise {self.short_noise:.3g} vs normal {self.long_noise:.3g}")
                )  # fmt: skip
        elif self.short_noise <= limit / 2:
            out.append(Fault("noisy", "cleared", self.noisy_since, f"noise {self.short_noise:.3g}"))
            self.noisy_since, self.noisy_run = None, 0

    def _jump(
        self,
        time: float,
        value: float,
        last_time: float,
        last_value: float,
        cfg: Judgement,
        out: list[Fault],
    ) -> None:
        step = abs(value - last_value)
        elapsed = max(time - last_time, 1e-3)
        if step < cfg.jump_min or step / elapsed <= cfg.jump_rate:
            return
        if self.last_jump is not None and time - self.last_jump < JUMP_QUIET:
            return
        self.last_jump = time
        out.append(
            Fault("jump", "raised", time,
                  f"{last_value!r} -> {value!r} in {elapsed:.3g}s ({step / elapsed:.3g}/s)")
        )  # fmt: skip
