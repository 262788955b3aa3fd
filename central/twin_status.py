"""A sensor's status in the digital twin (`GET /api/v1/sensors`), and what is pending.

Precedence (contract): `alarm` > `offline` > `pending` > analytics states (`warning`,
`critical`, `stale`) > `normal` (`unknown` before the first reading). `pending` means the
latest value is beyond a high or low limit of the sensor's rules (as `sensor.described`
told central) while no alarm of that rule is active: the edge's `for` delay is running, or
the alarm is on its way. The alarm is never raised early here; the edge decides that.
Rate rules need the window of readings the edge keeps, so they are not judged here.
"""

from __future__ import annotations

import operator
from typing import Any


def breached(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The high/low rules whose limit the latest value exceeds without an active alarm."""
    value = row.get("last_value")
    rules = row.get("alarms")
    if not isinstance(value, int | float) or not isinstance(rules, dict):
        return []
    active = {a.get("rule") for a in row.get("active_alarms", [])}
    out = []
    for rule, key, beyond in (("high", "above", operator.gt), ("low", "below", operator.lt)):
        spec = rules.get(rule)
        if not isinstance(spec, dict):
            continue
        limit = spec.get(key)
        if rule in active or not isinstance(limit, int | float):
            continue
        if beyond(float(value), float(limit)):
            delay = spec.get("for_s", 0)
            out.append(
                {
                    "rule": rule,
                    "threshold": limit,
                    "for_s": delay if isinstance(delay, int | float) else 0,
                }
            )
    return out


def since(readings: list[tuple[float, float]], pending: dict[str, Any]) -> float | None:
    """When the latest run of readings beyond the rule's limit began (None: not in view)."""
    limit = float(pending["threshold"])
    start = None
    for t, v in reversed(readings):
        if (v > limit) if pending["rule"] == "high" else (v < limit):
            start = t
        else:
            break
    return start


def status(row: dict[str, Any], now: float) -> str:
    """alarm > offline > pending > analytics status (warning, critical, stale) > normal."""
    if row["active_alarms"]:
        return "alarm"
    if row["last_time"] is None:
        return "unknown"
    offline = row["alarms"].get("offline") if isinstance(row["alarms"], dict) else None
    after = offline.get("after_s") if isinstance(offline, dict) else None
    if isinstance(after, int | float) and now - row["last_time"] > after:
        return "offline"
    if row.get("pending"):
        return "pending"
    if row["analytics_status"] in ("warning", "critical", "stale"):
        return str(row["analytics_status"])
    return "normal"
