"""Events the gateway writes about itself, so the stream describes itself (contract).

- `gateway.started` (version, config_hash) and a `sensor.described` for every configured
  sensor with a fixed id when the daemon starts (and after each config reload);
- `sensor.described` for a concrete id of a templated sensor (`ult-{freezer}.temp`) when
  its first reading is committed; the ids described are remembered in the log's state,
  so a restart describes them again only if the template's description changed;
- `gateway.heartbeat` every `gateway.heartbeat` (uptime, events not yet synced), so
  central can tell a dead monitor from a quiet one;
- `gateway.stopped` on shutdown (`stop()`, awaited by the daemon before the log closes).

All of them are `keep` entries: the size cap never drops them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson

from edge.entry import Entry, Stored
from edge.errors import LogClosedError
from edge.log import DurableLog
from edgeconfig import Config, Sensor
from runtime import events
from runtime.clock import Clock
from runtime.health import Health, State

log = logging.getLogger("tracseq.edge.gateway_events")

STATE_PREFIX = "described:"
_MAX_IGNORED = 10_000  # subjects matching no template, remembered to skip the regex


def package_version() -> str:
    try:
        return version("tracseq-edge")
    except PackageNotFoundError:
        return "unknown"


def describe(config: Config, sensor: Sensor) -> dict[str, Any]:
    """The `data` of a sensor.described event (without seq)."""
    connection = config.connections.get(sensor.source.connection)
    data: dict[str, Any] = {
        "kind": sensor.kind,
        "quantity": sensor.quantity,
        "unit": sensor.unit,
        "site": sensor.site or config.gateway.site,
        "protocol": connection.protocol if connection is not None else "unknown",
        "alarms": sensor.alarms.describe(),
    }
    if sensor.templated:
        data["template"] = sensor.id
    return data


def _template_pattern(sensor: Sensor) -> re.Pattern[str]:
    parts = re.split(r"\{[A-Za-z_][A-Za-z0-9_]*\}", sensor.id)
    return re.compile("[A-Za-z0-9._-]+".join(re.escape(part) for part in parts))


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class GatewayEvents:
    """Started/stopped, heartbeats and sensor descriptions (a supervised Component)."""

    name = "gateway-events"

    def __init__(
        self, config: Config, log: DurableLog, clock: Clock, *, started_at: float | None = None
    ) -> None:
        """`started_at` (the clock's monotonic time) lets uptime span config reloads."""
        self._config = config
        self._log = log
        self._clock = clock
        self._started_at = clock.monotonic() if started_at is None else started_at
        self._fixed = {s.id for s in config.sensors if not s.templated}
        self._templates = [
            (_template_pattern(s), data, _digest(data))
            for s in config.sensors
            if s.templated
            for data in (describe(config, s),)
        ]
        self._described = {
            key[len(STATE_PREFIX) :]: value.decode()
            for key, value in log.state(STATE_PREFIX).items()
        }
        self._ignored: set[str] = set()
        self._started = False
        self._active = False
        self._heartbeats = 0
        self._last_error = ""

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Record gateway.started and describe every sensor with a fixed id."""
        if self._started:
            return
        self._started = True
        base = {"version": package_version(), "config_hash": self._config.config_hash}
        entries = [self._entry(events.GATEWAY_STARTED, self._config.gateway.id, base)]
        for sensor in self._config.sensors:
            if not sensor.templated:
                data = describe(self._config, sensor)
                entries.append(self._entry(events.SENSOR_DESCRIBED, sensor.id, data))
        await self._log.append(entries)
        self._active = True
        self._log.add_listener(self._on_commit)

    async def stop(self) -> None:
        """Record gateway.stopped (the daemon awaits this before closing the log)."""
        self._active = False
        self._log.remove_listener(self._on_commit)
        data = {"version": package_version(), "config_hash": self._config.config_hash}
        await self._log.append([self._entry(events.GATEWAY_STOPPED, self._config.gateway.id, data)])

    async def run(self) -> None:
        """Heartbeats every `gateway.heartbeat`, on a fixed schedule (no drift)."""
        await self.start()
        interval = self._config.gateway.heartbeat
        due = self._clock.monotonic() + interval
        while True:
            await self._clock.sleep(max(0.0, due - self._clock.monotonic()))
            await self._log.append([self._heartbeat()])
            self._heartbeats += 1
            due += interval
            now = self._clock.monotonic()
            if due <= now:  # the loop was blocked for longer than an interval: skip ahead
                due = now + interval

    def health(self) -> Health:
        state: State = "connected" if self._active else "starting"
        counters = {"heartbeats": self._heartbeats, "described": len(self._described)}
        return Health(state, self._last_error, counters)

    # --- events ------------------------------------------------------------------------

    def pending(self) -> int:
        """Events not yet synced to central (else not yet on Redis; else 0)."""
        for cursor in ("sync", "redis"):
            if cursor in self._log.cursor_names:
                return self._log.pending(cursor)
        return 0

    def _heartbeat(self) -> Entry:
        uptime = round(self._clock.monotonic() - self._started_at, 3)
        data = {"uptime_s": uptime, "pending": self.pending()}
        return self._entry(events.GATEWAY_HEARTBEAT, self._config.gateway.id, data)

    def _entry(self, type_: str, subject: str, data: dict[str, Any]) -> Entry:
        return Entry(type_, subject, None, self._clock.time(), data, keep=True)

    # --- templated sensors: described on their first reading ---------------------------

    def _on_commit(self, stored: Sequence[Stored]) -> None:
        if not self._active or not self._templates:
            return
        entries: list[Entry] = []
        state: dict[str, bytes | None] = {}
        for item in stored:
            subject = item.subject
            if (
                item.type != events.READING
                or subject is None
                or subject in self._fixed
                or subject in self._ignored
            ):
                continue
            found = self._template_for(subject)
            if found is None:
                if len(self._ignored) < _MAX_IGNORED:
                    self._ignored.add(subject)
                continue
            data, digest = found
            if self._described.get(subject) == digest:
                continue
            self._described[subject] = digest
            entries.append(self._entry(events.SENSOR_DESCRIBED, subject, data))
            state[STATE_PREFIX + subject] = digest.encode()
        if entries:
            self._submit(entries, state)

    def _template_for(self, subject: str) -> tuple[dict[str, Any], str] | None:
        for pattern, data, digest in self._templates:
            if pattern.fullmatch(subject):
                return data, digest
        return None

    def _submit(self, entries: list[Entry], state: dict[str, bytes | None]) -> None:
        loop = asyncio.get_running_loop()
        subjects = [e.subject for e in entries if e.subject is not None]

        def committed(seqs: list[int | None] | None) -> None:
            if seqs is None:  # not on disk: describe again on the next reading
                loop.call_soon_threadsafe(self._forget, subjects)

        try:
            self._log.submit(entries, committed, state=state)
        except LogClosedError:
            self._forget(subjects)

    def _forget(self, subjects: list[str]) -> None:
        for subject in subjects:
            self._described.pop(subject, None)
        self._last_error = "could not record sensor.described; will retry"
