"""Writes a benchmark's section into docs/benchmarks.md (replacing its previous run)."""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Run with `make bench` (all) or `.venv/bin/python -m bench.<name>` (one). Figures vary from
run to run on a shared 2-core machine, so each benchmark reports a ratio against a baseline
measured in the same run. Each section below is rewritten by its benchmark.
"""


def record(section: str, body: str) -> None:
    """Replace (or add) `## <section>` in docs/benchmarks.md with `body`."""
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    block = f"## {section}\n\n_{stamp}, {python}_\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip() + "\n")
