"""Central's seam (issue 12) holds: route modules get `Services` from central/services.py,
never from the app, and catch-alls stay rare (each one justified where it is)."""

from __future__ import annotations

import ast
from pathlib import Path

CENTRAL = Path(__file__).resolve().parents[2] / "central"
MAX_CATCH_ALLS_PER_1000_LINES = 1.0


def _sources() -> list[Path]:
    return sorted(p for p in CENTRAL.rglob("*.py") if "node_modules" not in p.parts)


def _imports_app(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "central.app":
                return True
            if node.module == "central" and any(a.name == "app" for a in node.names):
                return True
        if isinstance(node, ast.Import) and any(a.name == "central.app" for a in node.names):
            return True
    return False


def _catch_alls(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            caught = node.type
            names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
            if caught is None or any(
                isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names
            ):
                count += 1
    return count


def test_only_the_cli_imports_the_app() -> None:
    importers = [
        str(p.relative_to(CENTRAL.parent))
        for p in _sources()
        if _imports_app(ast.parse(p.read_text(), filename=str(p)))
    ]
    assert importers == ["central/cli.py"]


def test_catch_alls_stay_at_most_one_per_thousand_lines() -> None:
    lines = catch_alls = 0
    for path in _sources():
        text = path.read_text()
        lines += text.count("\n")
        catch_alls += _catch_alls(ast.parse(text, filename=str(path)))
    assert catch_alls * 1000 / lines <= MAX_CATCH_ALLS_PER_1000_LINES, (catch_alls, lines)
