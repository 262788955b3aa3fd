"""A sensor's status from its latest reading: normal, warning, critical (or stale when silent).

`critical` once beyond a limit (immediately; the edge's alarm rules apply their own `for`
delays) and until the value is back past the rule's clear threshold (hysteresis, so a value
hovering at the limit does not flap). `warning` within `warn_margin` units of a limit, or
while a breach is predicted. `stale` is decided by the judge from silence, not here.
"""

from __future__ import annotations

from analytics.limits import Limits

NORMAL = "normal"
WARNING = "warning"
CRITICAL = "critical"
STALE = "stale"
STATUSES = (NORMAL, WARNING, CRITICAL, STALE)


def classify(
    value: float, limits: Limits, previous: str | None, margin: float, predicting: bool
) -> str:
    """The status of `value` given the previous status (for hysteresis)."""
    was_critical = previous == CRITICAL
    if limits.high is not None:
        clear = limits.high if limits.high_clear is None else limits.high_clear
        if value > limits.high or (was_critical and value > clear):
            return CRITICAL
    if limits.low is not None:
        clear = limits.low if limits.low_clear is None else limits.low_clear
        if value < limits.low or (was_critical and value < clear):
            return CRITICAL
    if predicting:
        return WARNING
    if limits.high is not None and value >= limits.high - margin:
        return WARNING
    if limits.low is not None and value <= limits.low + margin:
        return WARNING
    return NORMAL
