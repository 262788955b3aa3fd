"""Decoding MQTT messages into readings: topic templates, dotted paths, values and times.

Over 400 lines on purpose: the topic router, paths, values and times are one pure decoder,
property-tested as a unit.

Pure functions and small compiled objects, no I/O, so the decoder is property-tested on its
own. `Router` maps a concrete topic to the configured sensors it feeds (one message may feed
several); `decode` turns one message into readings and rejects. Bad input is data: every
problem becomes a `Reject` whose reason names the topic and the field, never an exception.

Two outcomes are neither: a message that fails the source's `when:` conditions is not this
sensor's (Shelly's `events/rpc` carries every component's NotifyStatus) and is only
counted as skipped; a value that is one of `no_value_states` (Home Assistant's
`unavailable`, `unknown`) is the sensor saying it has no value now, counted per sensor as
unavailable. Neither is stored, so a sensor that stays unavailable still goes offline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson

from drivers.base import Reading, Reject
from edgeconfig import Condition, MqttSource, Sensor
from runtime import units

MAX_PAYLOAD = 64 * 1024  # bytes; bigger payloads are rejected, keeping their first bytes
KEPT_OF_HUGE = 1024  # bytes of an oversized payload kept in the rejects table
_ID_PART = re.compile(r"[A-Za-z0-9._-]+")
_TRUE = frozenset({"on", "open", "opened", "true", "yes"})
_FALSE = frozenset({"off", "closed", "close", "false", "no"})
_CACHE_MAX = 10_000  # concrete topics remembered by the router
# Quantities measured on a scale: a boolean or ON/OFF there is a wiring mistake, not a value.
MEASURED = frozenset({"temperature", "humidity", "level", "co2", "o2", "pressure"})


class Target:
    """One configured sensor as the decoder sees it: where its value and time are."""

    __slots__ = (
        "no_value",
        "no_value_bytes",
        "placeholders",
        "sensor",
        "states",
        "time_field",
        "time_path",
        "unit_field",
        "unit_path",
        "value_field",
        "value_path",
        "when",
    )

    def __init__(self, sensor: Sensor) -> None:
        source = sensor.source
        assert isinstance(source, MqttSource)
        self.sensor = sensor
        self.value_field = source.value
        self.time_field = source.time
        self.value_path = _path(source.value)
        self.time_path = _path(source.time)
        self.unit_field = source.wire_unit_path
        self.unit_path = _path(source.wire_unit_path)
        self.placeholders = sensor.placeholders
        self.states = sensor.quantity not in MEASURED  # door contacts: ON/OFF, true/false
        self.when = [_Condition(c) for c in source.when]
        self.no_value = frozenset(s.strip().lower() for s in source.no_value_states)
        self.no_value_bytes = frozenset(s.encode() for s in self.no_value)


class _Condition:
    """One compiled `when:` condition."""

    __slots__ = ("equals", "has_equals", "path", "present")

    def __init__(self, condition: Condition) -> None:
        self.path = tuple(condition.path.split("."))
        self.present = condition.present
        self.has_equals = "equals" in condition.model_fields_set
        self.equals = condition.equals

    def holds(self, document: Any) -> bool:
        found = lookup(document, self.path)
        if not self.present:
            return found is _MISSING
        if found is _MISSING:
            return False
        if not self.has_equals:
            return found is not None
        if isinstance(self.equals, bool) or isinstance(found, bool):
            return found is self.equals
        return bool(found == self.equals)


@dataclass(slots=True, frozen=True)
class Match:
    """A target matched by a concrete topic, with the concrete sensor id (or why not)."""

    target: Target
    sensor_id: str | None
    problem: str | None = None


class _Route:
    """A topic template (`lab3/ult/{freezer}/telemetry`, `+`, `#`) and its targets."""

    __slots__ = ("levels", "targets")

    def __init__(self, template: str, targets: list[Target]) -> None:
        self.levels = template.split("/")
        self.targets = targets

    def captures(self, levels: list[str]) -> dict[str, str] | None:
        """The placeholder values when `levels` match this template, else None."""
        pattern = self.levels
        found: dict[str, str] = {}
        for index, want in enumerate(pattern):
            if want == "#":
                return found
            if index >= len(levels):
                return None
            got = levels[index]
            if want == "+":
                continue
            if want.startswith("{") and want.endswith("}"):
                found[want[1:-1]] = got
            elif want != got:
                return None
        return found if len(levels) == len(pattern) else None


class Router:
    """Which sensors a concrete topic feeds; one shared subscription set per connection."""

    def __init__(self, sensors: Sequence[Sensor]) -> None:
        by_template: dict[str, list[Target]] = {}
        for sensor in sensors:
            assert isinstance(sensor.source, MqttSource)
            by_template.setdefault(sensor.source.topic, []).append(Target(sensor))
        self._routes = [_Route(t, targets) for t, targets in by_template.items()]
        self.subscriptions = sorted(
            {s.source.subscription for s in sensors if isinstance(s.source, MqttSource)}
        )
        self._cache: dict[str, list[Match]] = {}

    def match(self, topic: str) -> list[Match]:
        """The targets `topic` feeds (cached: a fleet repeats the same topics)."""
        found = self._cache.get(topic)
        if found is not None:
            return found
        levels = topic.split("/")
        found = []
        for route in self._routes:
            captured = route.captures(levels)
            if captured is None:
                continue
            for target in route.targets:
                found.append(_concrete(target, captured))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[topic] = found
        return found


def _concrete(target: Target, captured: dict[str, str]) -> Match:
    sensor_id = target.sensor.id
    for name in target.placeholders:
        part = captured.get(name, "")
        if not _ID_PART.fullmatch(part):
            return Match(
                target, None, f"topic level {{{name}}}={part!r} is not a valid sensor id part"
            )
        sensor_id = sensor_id.replace(f"{{{name}}}", part)
    if len(sensor_id) > 128:
        return Match(target, None, f"sensor id {sensor_id[:40]!r}... is longer than 128")
    return Match(target, sensor_id)


def _path(dotted: str | None) -> tuple[str, ...] | None:
    return None if dotted is None else tuple(dotted.split("."))


# --- one message ---------------------------------------------------------------------


class Decoded:
    """What one batch of messages became: readings, and rejects with their reasons."""

    __slots__ = ("readings", "rejects", "skipped", "unavailable")

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.rejects: list[Reject] = []
        self.skipped = 0  # (message, sensor) pairs a `when:` condition left out
        self.unavailable: list[str] = []  # sensor ids whose value was a no-value state


_NOT_JSON = object()


def decode(
    topic: str,
    payload: bytes | bytearray,
    matches: list[Match],
    *,
    received: float,
    dup: bool,
    zone: tzinfo,
    out: Decoded,
    max_payload: int = MAX_PAYLOAD,
) -> None:
    """Decode one message for the sensors it feeds into `out` (readings and rejects)."""
    if len(payload) > max_payload:
        reason = f"{topic}: payload of {len(payload)} bytes is over the {max_payload}-byte limit"
        out.rejects.append(_reject(topic, reason, payload[:KEPT_OF_HUGE], received))
        return
    if not matches:
        reason = f"{topic}: no configured sensor matches this topic"
        out.rejects.append(_reject(topic, reason, payload, received))
        return
    document: Any = _NOT_JSON
    for match in matches:
        target = match.target
        if match.sensor_id is None:
            out.rejects.append(_reject(topic, f"{topic}: {match.problem}", payload, received))
            continue
        value_path = target.value_path
        if value_path is None:
            if payload.strip().strip(b'"').lower() in target.no_value_bytes:
                out.unavailable.append(match.sensor_id)
                continue
            value, problem = scalar(payload, target.states)
            if problem is not None:
                out.rejects.append(_reject(topic, f"{topic}: payload {problem}", payload, received))
                continue
            time: float | None = None
            extra: dict[str, Any] | None = None
            unit: str | None = None
        else:
            if document is _NOT_JSON:
                try:
                    document = orjson.loads(payload)
                except orjson.JSONDecodeError as exc:
                    reason = f"{topic}: payload is not valid JSON ({exc.msg})"
                    out.rejects.append(_reject(topic, reason, payload, received))
                    return
            if target.when and not all(c.holds(document) for c in target.when):
                out.skipped += 1
                continue
            raw = lookup(document, value_path)
            if isinstance(raw, str) and raw.strip().lower() in target.no_value:
                out.unavailable.append(match.sensor_id)
                continue
            if raw is _MISSING:
                reason = f"{topic}: field {target.value_field} missing"
                out.rejects.append(_reject(topic, reason, payload, received))
                continue
            value, problem = number(raw, target.states)
            if problem is not None:
                reason = f"{topic}: field {target.value_field} {problem}"
                out.rejects.append(_reject(topic, reason, payload, received))
                continue
            time = None
            extra = None
            unit = None
            if target.unit_path is not None:
                raw_unit = lookup(document, target.unit_path)
                if raw_unit is not _MISSING:  # absent: the source's wire_unit applies
                    unit = units.canonical(raw_unit) if isinstance(raw_unit, str) else None
                    if unit is None:
                        reason = (
                            f"{topic}: field {target.unit_field} {_short(raw_unit)} is not a "
                            f"known unit ({units.KNOWN}, C, F)"
                        )
                        out.rejects.append(_reject(topic, reason, payload, received))
                        continue
            if target.time_path is not None:
                raw_time = lookup(document, target.time_path)
                time = epoch(raw_time, zone)
                if time is None:
                    shown = "missing" if raw_time is _MISSING else _short(raw_time)
                    extra = {"sensor_time_rejected": f"{target.time_field}: {shown}"}
        if dup and time is None:
            extra = {"dup": True} if extra is None else {**extra, "dup": True}
        out.readings.append(
            Reading(target.sensor, match.sensor_id, value, received, time, unit, extra)
        )


def _reject(topic: str, reason: str, payload: bytes | bytearray, received: float) -> Reject:
    return Reject(f"mqtt:{topic}", reason, bytes(payload), received)


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


_MISSING = object()


def lookup(document: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path (`DS18B20.Temperature`, `probes.0.temp`), or _MISSING."""
    node = document
    for key in path:
        if isinstance(node, dict):
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def number(raw: Any, states: bool = True) -> tuple[float, str | None]:
    """A JSON field as a float; with `states`, booleans and ON/OFF/open/closed are 1.0/0.0."""
    if raw is True or raw is False:
        if states:
            return (1.0 if raw else 0.0), None
        return 0.0, f"is {str(raw).lower()}, not a number"
    if isinstance(raw, int | float):
        value = float(raw)
        if math.isfinite(value):
            return value, None
        return 0.0, f"is {raw!r}, not a finite number"
    if isinstance(raw, str):
        return text_value(raw, states)
    if raw is None:
        return 0.0, "is null"
    kind = "an object" if isinstance(raw, dict) else "a list"
    return 0.0, f"is {kind}, not a number"


def text_value(text: str, states: bool = True) -> tuple[float, str | None]:
    """A textual value: a number, or with `states` a state word (ON/OFF, open/closed)."""
    word = text.strip()
    lowered = word.lower()
    if states and lowered in _TRUE:
        return 1.0, None
    if states and lowered in _FALSE:
        return 0.0, None
    try:
        value = float(word)
    except ValueError:
        return 0.0, f"{_short(text)} is not a number"
    if "_" in word or not math.isfinite(value):
        return 0.0, f"{_short(text)} is not a finite number"
    return value, None


def scalar(payload: bytes | bytearray, states: bool = True) -> tuple[float, str | None]:
    """A whole payload that is the value: `-80.2`, `ON`, `true`, `"closed"`."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return 0.0, "is not UTF-8 text"
    stripped = text.strip()
    if not stripped:
        return 0.0, "is empty"
    if stripped[0] in "{[":
        return 0.0, "is JSON, not a plain value (set source.value to the field)"
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        stripped = stripped[1:-1]
    return text_value(stripped, states)


# --- times ---------------------------------------------------------------------------


def epoch(raw: Any, zone: tzinfo) -> float | None:
    """A sensor time as epoch seconds, or None when missing or not a time.

    Numbers are epoch seconds, milliseconds, microseconds or nanoseconds by magnitude;
    strings are numeric epochs or ISO 8601 (a time without a zone is in `zone`).
    """
    if raw is True or raw is False or raw is None or raw is _MISSING:
        return None
    if isinstance(raw, int | float):
        return _scaled(float(raw))
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > 64:
        return None
    if text.replace(".", "", 1).isdigit():
        return _scaled(float(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _scaled(value: float) -> float | None:
    if not math.isfinite(value) or value <= 0:
        return None
    if value >= 1e17:
        return value / 1e9
    if value >= 1e14:
        return value / 1e6
    if value >= 1e11:
        return value / 1e3
    return value
