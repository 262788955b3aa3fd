"""YAML with positions: parse a file and remember where every key and value stands.

Config errors must name the place (`sensors.yaml:42:7: sensors[3].alarms.high.for: ...`),
so the loader keeps a map from each path (a tuple of keys and indexes) to its line and
column. Duplicate keys, which PyYAML silently resolves to the last one, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from edge.errors import ConfigIssue

Path = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """A parsed YAML document and the positions of its keys and values (1-based)."""

    file: str
    data: Any
    value_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)

    def place(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of `path`, or of its nearest ancestor that has one."""
        marks = self.key_marks if key else self.value_marks
        probe = path
        while True:
            if probe in marks:
                return marks[probe]
            if not key and probe in self.key_marks:
                return self.key_marks[probe]
            if not probe:
                return None, None
            probe = probe[:-1]

    def issue(self, path: Path, message: str, *, key: bool = False) -> ConfigIssue:
        line, column = self.place(path, key=key)
        return ConfigIssue(self.file, line, column, format_path(path), message)


def format_path(path: Path) -> str:
    """`('sensors', 3, 'alarms')` -> `sensors[3].alarms`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse `text`; syntax errors become issues on the returned document (data None)."""
    doc = YamlDocument(file=file, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        doc.issues.append(ConfigIssue(file, line, column, "", f"YAML syntax: {exc.problem}"))
        return doc
    if node is None:
        doc.data = {}
        return doc
    doc.data = _build(node, (), doc)
    return doc


def _build(node: yaml.Node, path: Path, doc: YamlDocument) -> Any:
    doc.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # scalar keys only
            if not isinstance(key, str | int | float | bool) or key is None:
                doc.issues.append(
                    ConfigIssue(
                        doc.file,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        format_path(path),
                        "keys must be plain names",
                    )
                )
                continue
            key = str(key)
            child = (*path, key)
            doc.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                doc.issues.append(doc.issue(child, "duplicate key", key=True))
            out[key] = _build(value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), doc) for index, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)
