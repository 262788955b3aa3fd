"""`tracseq-edge central ...` arguments: exit 2 with a clear message, secrets printed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.central.conftest import run_cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "8095"], "--listen: '8095' is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "is not HOST:PORT"),
        (["--db", "mysql://db/x"], "unsupported database URL 'mysql://db/x'"),
        (["--offline-after", "5 min"], "--offline-after: invalid duration '5 min'"),
        (["--max-body", "lots"], "--max-body: invalid size 'lots'"),
        (["--max-inflight", "0"], "--max-inflight: must be at least 1"),
        (["--log-format", "xml"], "invalid choice: 'xml'"),
        (["token"], "use `token create ...`"),
        (["apikey", "create", "ci"], "the following arguments are required: --role"),
        (["apikey", "create", "ci", "--role", "boss"], "invalid choice: 'boss'"),
        (["token", "create", "bad name!"], "invalid name 'bad name!'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv: list[str], message: str) -> None:
    code, _, err = run_cli(*argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_apikey_is_the_last_word_and_a_name_is_used_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, out, _ = run_cli("apikey", "create", "grafana", "--role", "viewer", "--db", db)
    assert code == 0
    assert out.split()[-1].startswith("tsk_") and len(out.split()[-1]) > 40
    code, _, err = run_cli("apikey", "create", "grafana", "--role", "admin", "--db", db)
    assert code == 2
    assert "exists already" in err


def test_token_is_printed_once_and_only_its_digest_is_stored(tmp_path: Path) -> None:
    import sqlite3

    db_path = tmp_path / "c.db"
    code, out, _ = run_cli("token", "create", "lab3-edge-01", "--db", f"sqlite:///{db_path}")
    assert code == 0
    token = out.split()[-1]
    stored = sqlite3.connect(db_path).execute("SELECT token_hash, source FROM tokens").fetchall()
    assert len(stored) == 1
    assert stored[0][1] == "tracseq-edge/lab3-edge-01"
    assert token not in stored[0][0]


def test_unusable_database_is_a_runtime_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("token", "create", "gw", "--db", f"sqlite:///{blocker}/sub/c.db")
    assert code == 1
    assert "database error" in err
