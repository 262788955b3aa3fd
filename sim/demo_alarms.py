"""What `tracseq-edge demo` prints about alarms: each one raised, acknowledged, cleared and
(when central has notifications) notified, one line each, as central stores them.

The demo's terminal is where someone trying TracSeq Edge looks first; without these lines
it went silent while the scripted door opening and compressor failure raised alarms.
Central's query API is read with a viewer API key about once a second; what was already
stored when the demo started is not repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

UNITS = {"degC": "°C", "degF": "°F", "percent": "%"}


def unit_label(unit: str | None) -> str:
    if not unit:
        return ""
    base, _, per = unit.partition("/")
    return UNITS.get(base, base) + (f"/{per}" if per else "")


def amount(value: Any, unit: str | None) -> str:
    if not isinstance(value, int | float):
        return "?"
    if unit == "s":
        return f"{value:.0f} s"
    label = unit_label(unit)
    return f"{value:.2f}{' ' + label if label else ''}"


class AlarmLog:
    """Reads central's alarms (and notifications) and prints what is new since last time."""

    def __init__(self, url: str, key: str, out: Callable[[str], None], every: float = 1.0) -> None:
        self._client = httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=2.0
        )
        self._out = out
        self._every = every
        self._next = 0.0
        self._seen: set[str] = set()
        self._baseline = True  # the first answer: remember, do not print
        self._notifications = True  # False once central says it has none (404)

    def close(self) -> None:
        self._client.close()

    def poll(self) -> None:
        """Print what is new, at most once per interval; quiet while central is away."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every
        lines: list[str] = []
        for source in (self._alarm_lines, self._notification_lines):
            try:
                lines += source()
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                return  # central starting or busy: the next poll catches up
        if not self._baseline:
            for line in lines:
                self._out(line)
        self._baseline = False

    def _new(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _alarm_lines(self) -> list[str]:
        r = self._client.get("/api/v1/alarms", params={"state": "all", "limit": 200})
        r.raise_for_status()
        lines: list[str] = []
        for a in reversed(r.json()["alarms"]):  # oldest first
            subject = a.get("subject") or a.get("gateway") or "?"
            unit = a.get("unit")
            if self._new(f"raised:{a['alarm_id']}"):
                lines.append(
                    f"ALARM     {subject} {a['rule']}: {amount(a['value'], unit)}"
                    f" (limit {amount(a['threshold'], unit)})  [{a['alarm_id']}]"
                )
            for ack in a.get("acks", []):
                if self._new(f"ack:{ack['id']}"):
                    lines.append(
                        f"ACKED     {subject} {a['rule']} by {ack['by']}: {ack['comment']}"
                    )
            if a.get("state") == "cleared" and self._new(f"cleared:{a['alarm_id']}"):
                lasted = a.get("duration_s")
                after = f" after {lasted:.0f} s" if isinstance(lasted, int | float) else ""
                lines.append(f"CLEARED   {subject} {a['rule']}{after}")
        return lines

    def _notification_lines(self) -> list[str]:
        if not self._notifications:
            return []
        r = self._client.get("/api/v1/notifications", params={"limit": 200})
        if r.status_code == 404:
            self._notifications = False
            return []
        r.raise_for_status()
        lines: list[str] = []
        for n in reversed(r.json()["notifications"]):
            if n.get("state") in ("sent", "failed") and self._new(f"notified:{n['id']}"):
                to = ", ".join(n.get("to") or []) or n.get("channel", "?")
                what = "NOTIFIED " if n["state"] == "sent" else "NOT SENT "
                alarms = ", ".join(n.get("alarm_ids") or [])
                error = f" ({n['error']})" if n.get("error") else ""
                lines.append(f"{what} {n.get('channel', '?')} to {to}{error}  [{alarms}]")
        return lines
