"""YAML with positions: parse a file and remember where every key and value stands.

Config errors must name the place (`sensors.yaml:42:7: sensors[3].alarms.high.for: ...`),
so the loader keeps a map from each path (a tuple of keys and indexes) to its line and
column. Duplicate keys, which PyYAML silently resolves to the last one, are reported.

Anchors, aliases and merge keys (`<<: *freezer`, or `<<: [*a, *b]`) work as in YAML 1.1:
keys written in the mapping win over merged ones, and of several merged mappings the first
wins. A merged value keeps the position where it is written (under the anchor), so an
error in shared defaults points at the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runtime.errors import ConfigIssue

Path = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"


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
    except yaml.reader.ReaderError as exc:  # a control character such as NUL
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"YAML syntax: control character U+{code:04X} is not allowed"
        doc.issues.append(ConfigIssue(file, line, column, "", problem))
        return doc
    except yaml.YAMLError as exc:
        doc.issues.append(ConfigIssue(file, None, None, "", f"YAML syntax: {exc}"))
        return doc
    except RecursionError:
        doc.issues.append(
            ConfigIssue(file, None, None, "", f"YAML nested deeper than {MAX_DEPTH} levels")
        )
        return doc
    if node is None:
        doc.data = {}
        return doc
    doc.data = _build(node, (), doc, _Walk())
    return doc


# Limits that keep a hostile or broken file from hanging the loader: aliases may repeat
# at most MAX_REPEATED values in all ("billion laughs"), never refer to themselves, and
# nothing nests deeper than MAX_DEPTH. A real sensors.yaml is far inside all three.
MAX_REPEATED = 100_000
MAX_DEPTH = 64


@dataclass
class _Walk:
    active: set[int] = field(default_factory=set)  # nodes being built (a cycle if met again)
    built: set[int] = field(default_factory=set)  # nodes built once (again: via an alias)
    repeated: int = 0  # values built a second time or more, through aliases


def _build(node: yaml.Node, path: Path, doc: YamlDocument, walk: _Walk) -> Any:
    doc.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if id(node) in walk.active:
        doc.issues.append(doc.issue(path, "an alias refers to a value that contains it"))
        return None
    if len(path) > MAX_DEPTH:
        doc.issues.append(doc.issue(path, f"nested deeper than {MAX_DEPTH} levels"))
        return None
    if id(node) in walk.built:
        walk.repeated += 1
        if walk.repeated == MAX_REPEATED + 1:
            message = f"aliases expand to more than {MAX_REPEATED} values"
            doc.issues.append(doc.issue(path, message))
        if walk.repeated > MAX_REPEATED:
            return None
    walk.built.add(id(node))
    if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return _scalar(node, path, doc)
    walk.active.add(id(node))
    try:
        return _collection(node, path, doc, walk)
    finally:
        walk.active.discard(id(node))


def _scalar(node: yaml.Node, path: Path, doc: YamlDocument) -> Any:
    try:
        return yaml.SafeLoader(" ").construct_object(node)
    except Exception as exc:  # noqa: BLE001 -- PyYAML's constructors raise many kinds
        # (e.g. `!!float` with no value: IndexError); each is a bad value, not a crash.
        problem = getattr(exc, "problem", None) or str(exc)
        doc.issues.append(doc.issue(path, f"cannot read this value: {problem}"))
        return None


def _collection(node: yaml.Node, path: Path, doc: YamlDocument, walk: _Walk) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        explicit = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                _merge(value_node, path, doc, walk, out)
        merged = set(out)
        for key_node, value_node in explicit:
            key = _scalar(key_node, path, doc) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
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
            if key in out and key not in merged:
                doc.issues.append(doc.issue(child, "duplicate key", key=True))
            merged.discard(key)
            out[key] = _build(value_node, child, doc, walk)
        return out
    return [_build(item, (*path, index), doc, walk) for index, item in enumerate(node.value)]


def _merge(
    node: yaml.Node, path: Path, doc: YamlDocument, walk: _Walk, out: dict[Any, Any]
) -> None:
    """`<<: *anchor` or `<<: [*a, *b]`: add the keys `out` does not have yet."""
    sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
    mark = doc.value_marks.get(path)
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            line, column = source.start_mark.line + 1, source.start_mark.column + 1
            message = "<< merges a mapping or a list of mappings (e.g. <<: *defaults)"
            doc.issues.append(ConfigIssue(doc.file, line, column, format_path(path), message))
            continue
        built = _build(source, path, doc, walk)
        if isinstance(built, dict):
            for key, value in built.items():
                out.setdefault(key, value)
    if mark is not None:  # the mapping itself stays where it is written
        doc.value_marks[path] = mark
