"""Fuzzing the config loader: whatever the text, `parse_config` returns a Config or raises
ConfigError whose every issue names the file (and, where it has one, a line inside it).

Inputs: arbitrary text, YAML-ish token soup (anchors, aliases, tags, flow collections),
line-level mutations of the contract example, and the example with one value replaced by
an arbitrary YAML value. Longer runs: `python -m bench.fuzz --seconds 600 --target config`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeconfig import Config, parse_config
from runtime.errors import ConfigError
from tests.conftest import CONTRACT_EXAMPLE

EXAMPLE = CONTRACT_EXAMPLE.read_text()
EXAMPLE_LINES = EXAMPLE.splitlines()
EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE)
BASE = Path("/nonexistent/tracseq-fuzz")
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKENS = [
    "gateway:", "  id: gw-1", "sensors:", "connections:", "  - id: s1", "    source:",
    "      topic: a/{x}", "      register: input 1", "      match: '^(?P<value>.*)$'",
    "    alarms:", "      high: {above: 1, for: 5m}", "  mqtt: {url: 'mqtt://h'}", "redis:",
    "sync:", "  url: https://c", "&a ", "*a", "&b [*a, *a]", "*b", "!!binary aGk=",
    "!!python/object:os.system", "!!int x", "!!float", "!!timestamp 2020-13-45", "<<: *a",
    "? ", "[", "]", "{", "}", ", ", ": ", "- ", "'", '"', "#", "|", ">", "%YAML 1.1",
    "---", "...", "\t", "\\u0000", "\x00", "\x85", "\ufeff", "~", "null", ".nan", "-.inf",
    "1e999", "0x1F", "1_000", "yes", "on", "2026-01-01T00:00:00Z", "12:30:00", "\n", "\n  ",
    "\n    ", "\r\n",
]  # fmt: skip


def check(text: str) -> Config | None:
    """The loader's contract on any input; returns the Config when the text was valid."""
    try:
        return parse_config(text, "fuzz.yaml", base_dir=BASE)
    except ConfigError as exc:
        assert exc.issues, "a ConfigError must list at least one issue"
        lines = len(text.splitlines()) + 2  # splitlines knows YAML's NEL, LS and PS breaks
        for issue in exc.issues:
            assert issue.file == "fuzz.yaml"
            assert issue.message
            assert issue.line is None or 1 <= issue.line <= lines, issue
            assert str(issue).startswith("fuzz.yaml")
        return None


@FUZZ
@given(st.text(max_size=2000))
def test_arbitrary_text_is_a_config_or_located_errors(text: str) -> None:
    check(text)


token_soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=80).map("".join)


@FUZZ
@given(token_soup)
def test_yaml_token_soup_is_a_config_or_located_errors(text: str) -> None:
    check(text)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "edit", "indent", "insert", "cut"]))
        if op == "drop":
            del lines[at]
        elif op == "dup":
            lines.insert(at, lines[at])
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif op == "edit":
            line = lines[at]
            start = draw(st.integers(0, len(line)))
            end = draw(st.integers(start, len(line)))
            piece = draw(st.sampled_from(TOKENS) | st.text(max_size=12))
            lines[at] = line[:start] + piece + line[end:]
        elif op == "indent":
            lines[at] = " " * draw(st.integers(0, 9)) + lines[at].lstrip()
        elif op == "insert":
            lines.insert(at, draw(st.sampled_from(TOKENS) | st.text(max_size=30)))
        else:
            lines = lines[:at]
    return "\n".join(lines) + "\n"


@FUZZ
@given(mutated_example())
def test_mutated_contract_example_is_a_config_or_located_errors(text: str) -> None:
    check(text)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["5m", "0", "-1s", "1e9d", "2GiB", "mqtt://", "tcp://:0", "input 70000"])
)
yaml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


EXAMPLE_PATHS = [p for p in _paths(EXAMPLE_DATA) if p]


def with_values_replaced(changes: list[tuple[tuple[Any, ...], Any]]) -> str:
    """The contract example with the value at each path replaced, as YAML text."""
    data = copy.deepcopy(EXAMPLE_DATA)
    for path, value in changes:
        node: Any = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    return yaml.safe_dump(data, allow_unicode=True)


replaced_values = st.lists(
    st.tuples(st.sampled_from(EXAMPLE_PATHS), yaml_values), min_size=1, max_size=3
).map(with_values_replaced)


@FUZZ
@given(replaced_values)
def test_example_with_values_replaced_is_a_config_or_located_errors(text: str) -> None:
    check(text)


# What bench/fuzz.py runs for longer: name -> (strategy, property).
CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]] = {
    "config.text": (st.text(max_size=2000), check),
    "config.tokens": (token_soup, check),
    "config.mutated": (mutated_example(), check),
    "config.values": (replaced_values, check),
}


def test_the_unchanged_example_is_valid() -> None:
    assert check(EXAMPLE) is not None


# Findings of the fuzzing, kept as regression tests (docs/security.md lists them).
LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg", strict=True)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gateway: &g\n  id: x\n  me: *g\n", "an alias refers to a value that contains it"),
        ("sensors: &s [*s]\n", "an alias refers to a value that contains it"),
        (LAUGHS, "aliases expand to more than"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than"),
        ("gateway:\n  id: x\x00\n", "control character U+0000"),
        ("gateway: !!python/object:os.system x\n", "cannot read this value"),
        ("gateway:\n  id: !!int abc\n", "cannot read this value"),
        ("0[:\n", "unknown key '0['"),
    ],
    ids=[
        "self-alias",
        "self-alias-seq",
        "billion-laughs",
        "deep",
        "nul",
        "python-tag",
        "bad-int",
        "bracket-key",
    ],
)
def test_hostile_yaml_is_a_located_config_error(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "fuzz.yaml", base_dir=BASE)
    assert expected in str(caught.value)
