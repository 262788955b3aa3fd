"""What a rule's transition records: the `alarm.raised` / `alarm.cleared` entry for the log.

Pure functions (no clock, no state of their own): the engine hands them the transition,
the alarm it belongs to and the receive time, and appends what they return. A clear is
never stamped before its raise (issue 15): a clearing reading whose time is older than the
raise is recorded at its receive time instead, with a warning in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from edge.alarms import rules, store
from edge.entry import Entry
from runtime import events

log = logging.getLogger("tracseq.edge.alarms")


def raised(
    alarm_id: str, sensor_id: str, name: str, priority: str, raise_: rules.Raise, received: float
) -> tuple[store.ActiveAlarm, Entry]:
    """The active alarm and its `alarm.raised` entry."""
    alarm = store.ActiveAlarm(
        alarm_id,
        sensor_id,
        name,
        raise_.since,
        raise_.threshold,
        raise_.value,
        raise_.time,
        priority,
    )
    data: dict[str, Any] = {
        "rule": name,
        "threshold": raise_.threshold,
        "value": raise_.value,
        "since": events.format_time(raise_.since),
        "alarm_id": alarm_id,
        "priority": priority,
    }
    log.warning(
        "ALARM %s %s: value %s threshold %s since %s",
        sensor_id,
        name,
        raise_.value,
        raise_.threshold,
        data["since"],
    )
    entry = Entry(events.ALARM_RAISED, sensor_id, raise_.time, received, data, keep=True)
    return alarm, entry


def cleared(active: store.ActiveAlarm, priority: str, clear: rules.Clear, received: float) -> Entry:
    """The `alarm.cleared` entry of `active`, never stamped before its raise."""
    cleared_at = clear.time
    if cleared_at < active.raised:
        # A reading whose sensor time is older than the raise (a sensor clock behind, a
        # time zone fixed meanwhile, a restart's replay) still clears the alarm, but it is
        # recorded when it was received.
        cleared_at = max(active.raised, clear.received or received)
        log.warning(
            "alarm %s: the clearing reading's time %s is before the raise at %s; "
            "clear recorded at %s (check the sensor's clock or time zone)",
            active.alarm_id,
            events.format_time(clear.time),
            events.format_time(active.raised),
            events.format_time(cleared_at),
        )
    duration = round(max(0.0, cleared_at - clear.since), 3)
    data: dict[str, Any] = {
        "rule": active.rule,
        "value": clear.value,
        "since": events.format_time(clear.since),
        "alarm_id": active.alarm_id,
        "duration_s": duration,
        "priority": active.priority or priority,
    }
    if clear.reason is not None:
        data["reason"] = clear.reason
    log.warning("alarm cleared %s %s after %.0fs", active.sensor, active.rule, duration)
    return Entry(events.ALARM_CLEARED, active.sensor, cleared_at, received, data, keep=True)
