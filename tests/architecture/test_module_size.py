"""No shipped module grows past 400 lines without saying why at its top.

A long module is sometimes right (one pure decoder, one schema file); it is never an
accident. The reason goes in the module docstring as "Over 400 lines on purpose: ...".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runtime", "edgeconfig", "drivers", "edge", "sync", "central", "analytics", "sim")
LIMIT = 400
MARK = "Over 400 lines on purpose:"


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_long_modules_say_why(path: Path) -> None:
    text = path.read_text()
    lines = text.count("\n")
    if lines <= LIMIT:
        return
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert MARK in docstring, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or give the reason in its "
        f'docstring as "{MARK} ..."'
    )
