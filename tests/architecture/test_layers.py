"""The packages' layers (docs/architecture.md) hold: no import goes the wrong way.

Every import in the shipped packages, at module level or inside a function, is checked
against the table below. A failure names the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runtime", "edgeconfig", "drivers", "edge", "sync", "central", "analytics", "sim")

# What each package may import from the others (its own modules are always allowed).
ALLOWED: dict[str, tuple[str, ...]] = {
    "runtime": (),
    "edgeconfig": ("runtime",),
    "drivers": ("runtime", "edgeconfig"),
    "edge": ("runtime", "edgeconfig", "drivers.base"),
    "sync": ("runtime", "edgeconfig", "drivers.base", "edge"),
    "central": ("runtime",),
    "analytics": ("runtime",),
    "sim": ("runtime",),
}
# The composition roots: the daemon wires drivers and the uploader together; nothing
# else in edge/ knows the driver registry or the sync package.
EXTRA: dict[str, tuple[str, ...]] = {
    "edge.daemon": ("drivers.registry", "sync.uploader"),
}
# Modules of a package that a lower one must not import even though the package is allowed.
NOT_BELOW: dict[str, tuple[str, ...]] = {
    "sync": ("edge.daemon", "edge.cli", "edge.check", "edge.status"),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if "." in node.module:
                found.append((node.lineno, node.module))
            else:  # `from runtime import events` imports the module runtime.events
                found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _covered(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def violations(root: Path = ROOT) -> list[str]:
    """Every wrong-way import in the shipped packages, as `file:line: message`."""
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path, root)
            allowed = (package, *ALLOWED[package], *EXTRA.get(module, ()))
            for line, target in _imports(path):
                top = target.split(".")[0]
                if top not in PACKAGES or top == package:
                    continue
                where = f"{path.relative_to(root)}:{line}"
                if not _covered(target, allowed):
                    problems.append(f"{where}: {package} may not import {target}")
                elif _covered(target, NOT_BELOW.get(package, ())):
                    problems.append(f"{where}: {target} is above {package}")
    return problems


def test_no_import_goes_the_wrong_way() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("package", "source", "rule"),
    [
        ("central", "from edge.events import edge_event\n", "central may not import edge.events"),
        ("drivers", "from edge.config import Sensor\n", "drivers may not import edge.config"),
        ("edge", "from drivers.registry import build\n", "edge may not import drivers.registry"),
        ("runtime", "import edge.log\n", "runtime may not import edge.log"),
        ("analytics", "from central import app\n", "analytics may not import central.app"),
        ("sync", "from edge.daemon import run\n", "edge.daemon is above sync"),
    ],
)
def test_a_wrong_way_import_is_reported(
    tmp_path: Path, package: str, source: str, rule: str
) -> None:
    for name in PACKAGES:
        (tmp_path / name).mkdir()
    (tmp_path / package / "probe.py").write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].endswith(rule), found
