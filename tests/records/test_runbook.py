"""docs/install.md's restore runbook works as written, against a real central's database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.central.conftest import Central
from tests.records.conftest import empty_db, rows, with_schema

REPO = Path(__file__).resolve().parents[2]


def _runbook() -> str:
    text = (REPO / "docs" / "install.md").read_text()
    block = re.search(
        r"<!-- runbook:restore -->\n```sh\n(.*?)```\n<!-- /runbook:restore -->", text, re.S
    )
    assert block is not None, "docs/install.md lost its restore runbook"
    return block.group(1)


def test_the_restore_runbook_restores_an_intact_copy(
    site: tuple[Central, str, str], tmp_path: Path, postgres_url: str
) -> None:
    central, _, _ = site
    (tmp_path / "new").mkdir()
    with empty_db(central.backend, tmp_path / "new", postgres_url) as target:
        _run(central, with_schema(target, central.db), tmp_path)


def _run(central: Central, new_db: str, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tracseq-edge").write_text(f'#!/bin/sh\nexec {sys.executable} -m edge "$@"\n')
    (bin_dir / "tracseq-edge").chmod(0o755)
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DB": central.db,
        "BACKUPS": str(backups),
        "NEW_DB": new_db,
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _runbook()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout
    assert rows(new_db, "readings") == rows(central.db, "readings")
