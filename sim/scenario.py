"""Scripted failures: `KIND:TARGET@AT[:FOR]` flags and YAML scenario files.

Times are simulated seconds since the simulator started (`--speed 60` plays a scripted
`@10m` after ten wall seconds). A flag such as `door-open:F03@30s:4m` opens F03's door
30 s into the run for 4 minutes; a scenario file lists the same events:

    events:
      - {kind: door-open, target: F03, at: 30s, for: 4m}
      - {kind: compressor-failure, target: F12, at: 60s}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runtime.durations import parse_duration
from runtime.errors import ConfigError, ConfigIssue

# kind -> (needs a duration, may have a duration)
KINDS: dict[str, tuple[bool, bool]] = {
    "door-open": (True, True),
    "compressor-failure": (False, True),  # without `for`: until the end of the run
    "dropout": (True, True),  # the device falls silent
    "garbage": (False, False),  # one burst of junk bytes instead of a message
    "refill": (False, False),  # start filling an LN2 dewar now
    "refill-failure": (False, True),  # the auto-fill does not work
    "boil-off": (False, True),  # a failing vacuum jacket: boil-off x10
    "co2-drift": (False, True),  # the CO2 supply runs out: falls 0.05 %/min
}
ALIASES = {"ln2": "ln2-dewar-1", "rs485": "cold-room-1", "co2": "incubator-3"}

_SPEC = re.compile(r"^(?P<kind>[a-z0-9-]+):(?P<target>[^@\s]+)@(?P<at>[^:\s]+)(?::(?P<dur>\S+))?$")


@dataclass(frozen=True, slots=True)
class Event:
    """One scripted happening on one simulated device, in simulated seconds."""

    kind: str
    target: str
    at: float
    duration: float | None = None  # None: a one-shot, or until the end of the run

    @property
    def end(self) -> float:
        return float("inf") if self.duration is None else self.at + self.duration

    def active(self, t: float) -> bool:
        return self.at <= t < self.end


def _build(kind: str, target: str, at: str | float, dur: str | float | None) -> Event:
    """An event from its parts; ValueError with a message naming the bad part."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r} (one of {', '.join(KINDS)})")
    needs, may = KINDS[kind]
    start = parse_duration(at)
    duration = None if dur is None else parse_duration(dur)
    if needs and duration is None:
        raise ValueError(f"{kind} needs a duration (e.g. {kind}:{target}@30s:4m)")
    if duration is not None and not may:
        raise ValueError(f"{kind} takes no duration")
    if duration is not None and duration <= 0:
        raise ValueError("the duration must be positive")
    return Event(kind, ALIASES.get(target, target), start, duration)


def parse_event(spec: str, kind: str | None = None) -> Event:
    """Parse `KIND:TARGET@AT[:FOR]`, or `TARGET@AT[:FOR]` when `kind` is given."""
    text = spec if kind is None else f"{kind}:{spec}"
    match = _SPEC.match(text.strip())
    if match is None:
        form = "TARGET@AT[:FOR]" if kind else "KIND:TARGET@AT[:FOR]"
        raise ValueError(f"{spec!r}: expected {form}, e.g. door-open:F03@30s:4m")
    try:
        return _build(match["kind"], match["target"], match["at"], match["dur"])
    except ValueError as exc:
        raise ValueError(f"{spec!r}: {exc}") from None


def load_scenario(path: Path) -> list[Event]:
    """Events of a YAML scenario file; ConfigError with file:line for each bad entry."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(name, None, None, "", exc.strerror or str(exc))]) from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise ConfigError([ConfigIssue(name, line, None, "", f"not valid YAML: {exc}")]) from None
    events_node = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "events":
                events_node = value
    if not isinstance(events_node, yaml.SequenceNode):
        line = 1 if root is None else root.start_mark.line + 1
        raise ConfigError([ConfigIssue(name, line, None, "events", "expected a list of events")])
    events: list[Event] = []
    issues: list[ConfigIssue] = []
    for i, node in enumerate(events_node.value):
        where = (node.start_mark.line + 1, node.start_mark.column + 1)
        item: Any = yaml.safe_load(yaml.serialize(node))
        try:
            events.append(_from_mapping(item))
        except ValueError as exc:
            issues.append(ConfigIssue(name, where[0], where[1], f"events[{i}]", str(exc)))
    if issues:
        raise ConfigError(issues)
    return events


def _from_mapping(item: Any) -> Event:
    if not isinstance(item, dict):
        raise ValueError("expected a mapping like {kind: door-open, target: F03, at: 30s}")
    unknown = set(item) - {"kind", "target", "at", "for"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key in ("kind", "target", "at"):
        if key not in item:
            raise ValueError(f"missing key {key!r}")
    return _build(str(item["kind"]), str(item["target"]), item["at"], item.get("for"))
