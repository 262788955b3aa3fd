"""How alarm state is kept in the durable log's key/value state table.

Keys (written in the same transaction as the alarm events they belong to):
- `alarm:<sensor>:<rule>`: for a raised alarm `{"alarm_id", "sensor", "rule", "since",
  "raised", "threshold", "value", "priority"}` (times RFC 3339, as in the events); for a
  delay that is running `{"pending": {"since", "received", "value"}}` (epoch seconds);
  absent when neither.
- `rules:seq`: the last log seq whose readings the rules have evaluated and whose effects
  are committed; after a restart the engine re-evaluates the readings after it.
- `rules:seen:<sensor>`: a concrete id of a templated sensor with an `offline` rule, so its
  silence is still watched after a restart.

`tracseq-edge status` reads active alarms with `active_alarms(log.state(ALARM_PREFIX))`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from runtime import events

log = logging.getLogger("tracseq.edge.alarms")

ALARM_PREFIX = "alarm:"
CHECKPOINT = "rules:seq"
SEEN_PREFIX = "rules:seen:"


@dataclass(slots=True, frozen=True)
class ActiveAlarm:
    """A raised alarm that has not cleared."""

    alarm_id: str
    sensor: str
    rule: str
    since: float  # when the condition began (epoch s)
    threshold: float
    value: float
    raised: float  # when the alarm was raised (epoch s)
    priority: str | None = None  # critical | warning (None: state written before priorities)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `status --json` and /readyz show."""
        out: dict[str, Any] = {
            "alarm_id": self.alarm_id,
            "sensor": self.sensor,
            "rule": self.rule,
            "since": events.format_time(self.since),
            "raised": events.format_time(self.raised),
            "threshold": self.threshold,
            "value": self.value,
        }
        if self.priority is not None:
            out["priority"] = self.priority
        return out


@dataclass(slots=True, frozen=True)
class Saved:
    """One decoded `alarm:` key."""

    sensor: str
    rule: str
    active: ActiveAlarm | None
    pending: dict[str, Any] | None


def alarm_key(sensor: str, rule: str) -> str:
    return f"{ALARM_PREFIX}{sensor}:{rule}"


def encode(active: ActiveAlarm | None, pending: dict[str, float] | None) -> bytes | None:
    """The state value for an alarm key; None deletes the key."""
    if active is not None:
        return orjson.dumps(active.to_dict())
    if pending is not None:
        return orjson.dumps({"pending": pending})
    return None


def decode(key: str, raw: bytes) -> Saved | None:
    """An `alarm:` key's value, or None (logged) when it cannot be read."""
    sensor, sep, rule = key.removeprefix(ALARM_PREFIX).rpartition(":")
    try:
        if not sep or not sensor:
            raise ValueError("key is not alarm:<sensor>:<rule>")
        body = orjson.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        active = None
        if "alarm_id" in body:
            active = ActiveAlarm(
                alarm_id=str(body["alarm_id"]),
                sensor=sensor,
                rule=rule,
                since=events.parse_time(body["since"]),
                threshold=float(body["threshold"]),
                value=float(body["value"]),
                raised=events.parse_time(body["raised"]),
                priority=body.get("priority") if isinstance(body.get("priority"), str) else None,
            )
        pending = body.get("pending")
        if pending is not None:
            pending = {k: float(pending[k]) for k in ("since", "received", "value")}
        return Saved(sensor, rule, active, pending)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        log.error("alarm state %s unreadable (%s): ignored", key, exc)
        return None


def active_alarms(state: Mapping[str, bytes]) -> list[ActiveAlarm]:
    """Active alarms in a `log.state(ALARM_PREFIX)` mapping, oldest first."""
    found = []
    for key, raw in state.items():
        saved = decode(key, raw)
        if saved is not None and saved.active is not None:
            found.append(saved.active)
    return sorted(found, key=lambda a: (a.since, a.sensor, a.rule))
