"""`tracseq-edge central token|apikey list|revoke`: housekeeping of secrets, audited."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.requests import Request

from central.auth import CACHE_SECONDS, Authenticator, digest
from central.storage import open_storage
from tests.central.conftest import Central, gateway_name, reading, run_cli


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'c.db'}"


def _audit(db: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        return list(conn.execute("SELECT actor, action, target FROM audit ORDER BY id"))


def test_list_shows_every_token_and_key_but_never_a_secret(tmp_path: Path) -> None:
    db = _db(tmp_path)
    secrets = [run_cli("token", "create", gw, "--db", db)[1].split()[-1] for gw in ("a1", "b2")]
    key = run_cli("apikey", "create", "grafana", "--role", "viewer", "--db", db)[1].split()[-1]

    code, out, _ = run_cli("token", "list", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SOURCE", "CREATED", "REVOKED"]
    for secret, gw in zip(secrets, ("a1", "b2"), strict=True):
        token_id = hashlib.sha256(secret.encode()).hexdigest()[:12]
        (row,) = [line.split() for line in lines if line.startswith(token_id)]
        assert row[1] == f"tracseq-edge/{gw}" and row[3] == "-"
        assert secret not in out and digest(secret) not in out

    code, out, _ = run_cli("apikey", "list", "--db", db)
    assert code == 0
    assert out.splitlines()[1].split()[:2] == ["grafana", "viewer"]
    assert key not in out


def test_revoked_secrets_are_refused_and_audited(central: Central) -> None:
    gw, kept = gateway_name(), gateway_name()
    token, other = central.token(gw), central.token(kept)
    key_name = f"ci-{gw}"
    code, out, _ = run_cli("apikey", "create", key_name, "--role", "viewer", "--db", central.db)
    key = out.split()[-1]

    token_id = digest(token)[:12]
    code, out, err = run_cli("token", "revoke", token_id, "--db", central.db)
    assert code == 0, err
    assert f"tracseq-edge/{gw}" in out and "revoked" in out
    code, out, err = run_cli("apikey", "revoke", key_name, "--db", central.db)
    assert code == 0, err

    # Neither was used before, so no central has them cached: refused at once.
    assert central.ingest(token, [reading(gw, 1, f"{gw}.t", 1.0)]).status_code == 401
    refused = central.client.get(
        f"{central.url}/api/v1/gateways", headers={"authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 401
    assert central.ingest(other, [reading(kept, 1, f"{kept}.t", 1.0)]).status_code == 200

    trail = central.get("/api/v1/audit", role="admin").json()
    assert trail["chain"]["ok"]
    done = {(e["action"], e["target"]): e for e in trail["entries"]}
    revoked_token = done[("token.revoke", f"tracseq-edge/{gw}")]
    assert revoked_token["actor"].startswith("cli:")
    assert token_id in revoked_token["old_value"] and token not in revoked_token["old_value"]
    assert done[("apikey.revoke", key_name)]["actor"].startswith("cli:")

    code, out, _ = run_cli("token", "list", "--db", central.db)
    (row,) = [line.split() for line in out.splitlines() if line.startswith(token_id)]
    assert row[3] != "-"


def test_revoking_twice_revokes_once_and_unknown_or_ambiguous_ids_exit_2(tmp_path: Path) -> None:
    db = _db(tmp_path)
    run_cli("apikey", "create", "grafana", "--role", "viewer", "--db", db)
    for _ in range(2):
        code, out, _ = run_cli("apikey", "revoke", "grafana", "--db", db)
        assert code == 0
    assert "revoked already" in out
    assert [a for _, a, _ in _audit(db)].count("apikey.revoke") == 1
    code, _, err = run_cli("apikey", "create", "grafana", "--role", "viewer", "--db", db)
    assert code == 2 and "exists already" in err  # a revoked key's name stays taken

    async def two_alike() -> None:
        storage = open_storage(db, time.time)
        try:
            await storage.add_token("abcdef01" + "0" * 56, "tracseq-edge/x")
            await storage.add_token("abcdef01" + "1" * 56, "tracseq-edge/y")
        finally:
            await storage.close()

    asyncio.run(two_alike())
    for argv, message in (
        (["token", "revoke", "ABCDEF01"], "matches 2 tokens: give more digits"),
        (["token", "revoke", "abcdef0"], "is not a token ID"),
        (["token", "revoke", "0123456789ab"], "no token '0123456789ab'"),
        (["apikey", "revoke", "nobody"], "no API key 'nobody'"),
        (["token", "revoke"], "the following arguments are required: ID"),
    ):
        code, _, err = run_cli(*argv, "--db", db)
        assert code == 2, argv
        assert message in err and "Traceback" not in err
    code, _, _ = run_cli("token", "revoke", "abcdef010", "--db", db)
    assert code == 0
    assert [a for _, a, _ in _audit(db)].count("token.revoke") == 1


def test_a_revoked_secret_still_cached_is_refused_when_the_cache_lifetime_ends(
    tmp_path: Path,
) -> None:
    """A central that used a secret keeps it for CACHE_SECONDS (documented in central.md)."""
    db = _db(tmp_path)
    key = run_cli("apikey", "create", "tool", "--role", "viewer", "--db", db)[1].split()[-1]
    now = [1000.0]
    request = Request({"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]})

    async def scenario() -> None:
        storage = open_storage(db, time.time)
        auth = Authenticator(storage, clock=lambda: now[0])
        try:
            assert await auth.resolve(request) is not None
            await storage.revoke_api_key("tool", "cli:test")
            now[0] += CACHE_SECONDS - 1
            assert await auth.resolve(request) is not None  # the cache's lag
            now[0] += 2
            assert await auth.resolve(request) is None
        finally:
            await storage.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["token", "apikey"])
def test_list_of_an_unusable_database_is_a_runtime_failure(kind: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(kind, "list", "--db", f"sqlite:///{blocker}/sub/c.db")
    assert code == 1
    assert "database error" in err
