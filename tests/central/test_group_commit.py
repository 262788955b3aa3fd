"""SQLite group commit: batches that wait for the one writer are stored in one transaction
(one commit, one disk sync), each in its own savepoint, and each caller still gets its
own outcome only after that commit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from central.storage import open_storage
from central.storage.records import Batch, Ingested, ReadingRow
from central.storage.write import ForeignData
from runtime import events as ev


def _batch(gateway: str, first_seq: int, sensor: str, size: int = 5) -> Batch:
    now = time.time()
    rows = [
        ReadingRow(
            f"{gateway}:{seq}", gateway, seq, sensor, now - 60 + seq, -80.0, "degC", None, None
        )
        for seq in range(first_seq, first_seq + size)
    ]
    return Batch(ev.edge_source(gateway), gateway, now, rows, [])


async def test_waiting_batches_share_one_commit_and_keep_their_own_outcome(
    tmp_path: Path,
) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'central.db'}", time.time)
    try:
        await storage.migrate()
        await storage.ingest(_batch("gw-a", 1, "gw-a.freezer"))  # gw-a owns its sensor
        statements: list[str] = []
        await storage.run_write(lambda conn, d: conn.set_trace_callback(statements.append))
        batches = [_batch("gw-a", 100 + 10 * i, "gw-a.freezer") for i in range(20)]
        batches.insert(7, _batch("gw-b", 1, "gw-a.freezer"))  # another gateway's sensor
        batches.insert(12, _batch("gw-a", 1, "gw-a.freezer"))  # a resend: all duplicates
        outcomes: list[Any] = await asyncio.gather(
            *(storage.ingest(b) for b in batches), return_exceptions=True
        )
        await storage.run_write(lambda conn, d: conn.set_trace_callback(None))

        assert isinstance(outcomes[7], ForeignData)
        assert outcomes[7].sensors == {"gw-a.freezer": "gw-a"}
        assert [(o.accepted, o.duplicates) for o in outcomes[12:13]] == [(0, 5)]
        others = [o for i, o in enumerate(outcomes) if i not in (7, 12)]
        assert all(isinstance(o, Ingested) and (o.accepted, o.duplicates) == (5, 0) for o in others)
        stored = await storage.run_read(
            lambda conn, d: d.all(conn, "SELECT gateway, COUNT(*) FROM readings GROUP BY gateway")
        )
        assert dict(stored) == {"gw-a": 5 + 20 * 5}  # nothing of gw-b's batch
        commits = [s for s in statements if s.strip().upper() == "COMMIT"]
        assert 1 <= len(commits) <= 3, statements  # not one per batch (22)
    finally:
        await storage.close()


@pytest.mark.parametrize("failing", [0, 3])
async def test_a_batch_that_fails_is_rolled_back_alone(tmp_path: Path, failing: int) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'central.db'}", time.time)
    try:
        await storage.migrate()
        # A trigger that refuses gw-x's readings makes its batch fail inside the group.
        await storage.run_write(
            lambda conn, d: conn.execute(
                """CREATE TRIGGER refuse_x BEFORE INSERT ON readings WHEN NEW.gateway = 'gw-x'
                BEGIN SELECT RAISE(ABORT, 'refused by test'); END"""
            )
        )
        batches = [_batch(f"gw-{i}", 1, f"gw-{i}.s") for i in range(5)]
        batches[failing] = _batch("gw-x", 1, "gw-x.s")
        outcomes = await asyncio.gather(
            *(storage.ingest(b) for b in batches), return_exceptions=True
        )
        assert [isinstance(o, Exception) for o in outcomes] == [i == failing for i in range(5)]
        assert "refused by test" in str(outcomes[failing])
        stored = await storage.run_read(
            lambda conn, d: d.all(conn, "SELECT DISTINCT gateway FROM readings ORDER BY 1")
        )
        assert [g for (g,) in stored] == sorted(f"gw-{i}" for i in range(5) if i != failing)
    finally:
        await storage.close()
