"""Which configured sensor a concrete sensor id belongs to (templated ids included)."""

from __future__ import annotations

import re

from edgeconfig import Sensor

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_pattern(sensor_id: str) -> re.Pattern[str]:
    """`ult-{freezer}.temp` -> a pattern matching `ult-F12.temp` (placeholders are id chars)."""
    parts = _PLACEHOLDER.split(sensor_id)
    # split() alternates literal text and placeholder names.
    regex = "".join(
        re.escape(part) if index % 2 == 0 else r"[A-Za-z0-9._-]+"
        for index, part in enumerate(parts)
    )
    return re.compile(regex)


class SensorIndex:
    """Concrete id -> configured sensor; exact ids first, then templates in config order."""

    def __init__(self, sensors: list[Sensor]) -> None:
        self._exact = {s.id: s for s in sensors if not s.templated}
        self._templates = [(template_pattern(s.id), s) for s in sensors if s.templated]
        self._cache: dict[str, Sensor | None] = {}

    @property
    def concrete(self) -> list[Sensor]:
        """The sensors with a fixed id."""
        return list(self._exact.values())

    def resolve(self, sensor_id: str) -> Sensor | None:
        if sensor_id in self._cache:
            return self._cache[sensor_id]
        found = self._exact.get(sensor_id)
        if found is None:
            found = next((s for p, s in self._templates if p.fullmatch(sensor_id)), None)
        if len(self._cache) < 100_000:  # bounded: ids come from configured topics
            self._cache[sensor_id] = found
        return found
