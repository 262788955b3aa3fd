"""Which policies an alarm matches, who a level reaches, and whether a schedule is on duty.

An alarm matches every policy whose `match` keys all match (a key that is not given matches
anything; a key given for a fact the alarm does not have, e.g. `kind` for a
`gateway_offline`, does not match). Schedules are wall-clock windows in their own time zone
(zoneinfo), so `18:00`-`08:00` stays 18:00-08:00 local across a DST change; a window whose
end is not after its start runs overnight into the next day.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from central.notify.config import DAYS, Match, NotifyConfig, Policy, Schedule, Target


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """What policies match on, for one alarm or prediction."""

    event: str  # "alarm" or "prediction"
    rule: str | None
    sensor: str | None
    gateway: str | None
    kind: str | None
    site: str | None


def matches(match: Match, facts: AlarmFacts) -> bool:
    if match.event != facts.event:
        return False
    return (
        _is_in(match.kind, facts.kind)
        and _is_in(match.gateway, facts.gateway)
        and _is_in(match.rule, facts.rule)
        and _glob(match.site, facts.site)
        and _glob(match.sensor, facts.sensor)
    )


def matching(config: NotifyConfig, facts: AlarmFacts) -> list[Policy]:
    return [p for p in config.policies if matches(p.match, facts)]


def _is_in(wanted: Sequence[str] | None, value: str | None) -> bool:
    return wanted is None or (value is not None and value in wanted)


def _glob(patterns: list[str] | None, value: str | None) -> bool:
    if patterns is None:
        return True
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def on_duty(schedule: Schedule, when: float) -> bool:
    """Whether epoch time `when` falls in one of the schedule's windows (local wall clock)."""
    local = datetime.fromtimestamp(when, ZoneInfo(schedule.timezone))
    day = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    now = local.hour * 60 + local.minute
    for window in schedule.windows:
        start, end = _minutes(window.start), _minutes(window.end)
        if start < end:
            if day in window.days and start <= now < end:
                return True
        elif (day in window.days and now >= start) or (yesterday in window.days and now < end):
            return True
    return False


def recipients(config: NotifyConfig, target: Target, contacts: dict[str, Contact]) -> list[str]:
    """The addresses a target reaches: groups expanded, user names resolved to their profile.

    E-mail channels get e-mail addresses; webhooks get phone numbers where the user has one
    (an SMS gateway behind a webhook), else the e-mail. Unknown names are left out (the
    check names them)."""
    channel = config.channels[target.channel]
    names: list[str] = []
    for entry in target.to:
        if entry.startswith("group:"):
            names.extend(config.groups.get(entry.removeprefix("group:"), []))
        else:
            names.append(entry)
    out: list[str] = []
    for name in names:
        address: str | None = name if "@" in name or name.startswith("+") else None
        if address is None and name in contacts:
            contact = contacts[name]
            address = contact.email if channel.smtp is not None else contact.phone or contact.email
        if address is not None and address not in out:
            out.append(address)
    return out


def unresolved(config: NotifyConfig, target: Target, contacts: dict[str, Contact]) -> list[str]:
    """User names in `target` that resolve to no address (no such user, or no e-mail)."""
    out: list[str] = []
    for entry in target.to:
        names = (
            config.groups.get(entry.removeprefix("group:"), [])
            if entry.startswith("group:")
            else [entry]
        )
        for name in names:
            if "@" in name or name.startswith("+"):
                continue
            contact = contacts.get(name)
            if contact is None or (contact.email is None and contact.phone is None):
                out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class Contact:
    email: str | None
    phone: str | None
