"""Per-kind sensor defaults: `defaults: {freezer: {...}, ln2: {...}}` in sensors.yaml.

Each sensor gets the keys of its kind's defaults that it does not write itself. Mappings
merge key by key at every depth (a sensor's `alarms: {high: ...}` keeps the kind's
`alarms.offline`); any other value, a list included, is the sensor's when it writes one.
Done on the parsed document, before validation, and a merged value keeps the position
where the defaults write it: an error in a default is reported at the defaults' line, for
each sensor it reaches (`sensors.yaml:4:26: sensors[2].alarms.high.for: ...`).
"""

from __future__ import annotations

import copy
import difflib
from typing import Any, get_args

from edgeconfig.base import Kind
from runtime.errors import ConfigIssue
from runtime.yaml_source import Path, YamlDocument

KEY = "defaults"
KINDS: tuple[str, ...] = get_args(Kind)
OWN_KEYS = ("id", "kind")  # what every sensor writes itself


def apply_kind_defaults(doc: YamlDocument) -> list[ConfigIssue]:
    """Merge `defaults.<kind>` under each sensor of that kind in `doc.data` (in place)."""
    data = doc.data
    if not isinstance(data, dict) or KEY not in data:
        return []
    by_kind, issues = _checked(data[KEY], doc)
    sensors = data.get("sensors")
    if not by_kind or not isinstance(sensors, list):
        return issues
    marks = {kind: _marks_under(doc, (KEY, kind)) for kind in by_kind}
    for index, sensor in enumerate(sensors):
        kind = sensor.get("kind") if isinstance(sensor, dict) else None
        if isinstance(kind, str) and kind in by_kind:
            _merge(sensor, by_kind[kind], ("sensors", index), marks[kind], (), doc)
    return issues


def _checked(value: Any, doc: YamlDocument) -> tuple[dict[str, dict[str, Any]], list[ConfigIssue]]:
    """The usable part of `defaults:` and an issue for every part that is not."""
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [doc.issue((KEY,), "defaults maps a sensor kind to keys for its sensors")]
    usable: dict[str, dict[str, Any]] = {}
    issues: list[ConfigIssue] = []
    for kind, keys in value.items():
        where = (KEY, kind)
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), KINDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(KINDS)}"
            issues.append(doc.issue(where, f"unknown sensor kind '{kind}' ({hint})", key=True))
        elif not isinstance(keys, dict):
            issues.append(doc.issue(where, "a kind's defaults are a mapping of sensor keys"))
        else:
            for own in OWN_KEYS:
                if own in keys:
                    message = f"{own} cannot be a default: each sensor writes its own"
                    issues.append(doc.issue((*where, own), message, key=True))
            usable[kind] = {k: v for k, v in keys.items() if k not in OWN_KEYS}
    return usable, issues


Marks = list[tuple[Path, bool, tuple[int, int]]]  # path below the kind, is a key mark, line/col


def _marks_under(doc: YamlDocument, prefix: Path) -> Marks:
    size = len(prefix)
    found: Marks = []
    for is_key, marks in ((False, doc.value_marks), (True, doc.key_marks)):
        found.extend((p[size:], is_key, m) for p, m in marks.items() if p[:size] == prefix)
    return found


def _merge(
    target: dict[str, Any],
    defaults: dict[str, Any],
    at: Path,
    marks: Marks,
    below: Path,
    doc: YamlDocument,
) -> None:
    """Add to `target` (at path `at`) what it lacks of `defaults` (at `below` in the kind)."""
    for key, value in defaults.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
            _copy_marks(marks, (*below, key), (*at, key), doc)
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _merge(target[key], value, (*at, key), marks, (*below, key), doc)


def _copy_marks(marks: Marks, source: Path, dest: Path, doc: YamlDocument) -> None:
    size = len(source)
    for path, is_key, mark in marks:
        if path[:size] == source:
            (doc.key_marks if is_key else doc.value_marks)[(*dest, *path[size:])] = mark
