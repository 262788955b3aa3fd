"""`central verify --audit-key FILE` also checks the signed audit checkpoints: a trail that
was edited and re-chained passes the hash chain alone, not the checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.central.conftest import BACKENDS, fresh_db, run_cli
from tests.security.test_audit_trail import KEY, checkpointed, rechain


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    with fresh_db(request.param, tmp_path, postgres_url) as url:
        yield url


def _verify(db: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("verify", "--db", db, "--json", *extra)
    assert code in (0, 1), err
    return code, json.loads(out)


def test_verify_with_the_audit_key_finds_a_rechained_trail(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "audit.key"
    key.write_bytes(KEY)
    checkpointed(db)  # six audit rows and a checkpoint signed over them, as central does
    code, report = _verify(db, "--audit-key", str(key))
    assert code == 0 and report["checks"]["audit_checkpoints"] == "ok", report
    assert report["counts"]["audit_checkpoints"] == 1

    rechain(db, 2, "edited")  # edit row 2, recompute every hash after it
    code, report = _verify(db)
    assert code == 0 and report["checks"]["audit_chain"] == "ok"  # the chain alone: intact
    code, report = _verify(db, "--audit-key", str(key))
    assert code == 1 and report["checks"]["audit_checkpoints"] == "failed", report
    assert any("re-chained" in p for p in report["problems"]), report
    monkeypatch.setenv("TRACSEQ_AUDIT_KEY", str(key))  # the nightly unit's way (install.md)
    code, report = _verify(db)
    assert code == 1 and report["checks"]["audit_checkpoints"] == "failed", report


def test_verify_refuses_a_missing_audit_key(db: str, tmp_path: Path) -> None:
    code, _, err = run_cli("verify", "--db", db, "--audit-key", str(tmp_path / "none"))
    assert code == 2 and "cannot read the signing key" in err
