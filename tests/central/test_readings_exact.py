"""A reading's value and times come back from the database bit for bit, on both backends:
PostgreSQL takes readings as one JSON array (central/storage/postgres.py), so this holds
the text round trip to every double, subnormals and the extremes included. The one
exception is the sign of zero, which SQLite drops too."""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.storage.dialect import Dialect
from central.storage.records import ReadingRow
from tests.central.conftest import fresh_db

EXTREMES = [
    5e-324, 1e-320, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
    0.1 + 0.2, -80.123456789, 1 / 3, 1e22, 1e23, 9007199254740993.0, 123456.0, 0.0,
]  # fmt: skip


def _doubles(count: int) -> list[float]:
    rng = random.Random(17)
    out = list(EXTREMES)
    while len(out) < count:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if value - value == 0.0:  # finite
            out.append(value)
    return out


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    with fresh_db(request.param, tmp_path, postgres_url) as url:
        yield url


def _connect(url: str) -> tuple[Dialect, Any]:
    if url.startswith("sqlite"):
        from central.storage.sqlite import SqliteDialect, connect, path_of

        return SqliteDialect(), connect(path_of(url))
    from central.storage.postgres import PostgresDialect
    from central.storage.postgres import connect as pg_connect

    return PostgresDialect(), pg_connect(url)


def test_values_and_times_keep_every_bit(db: str) -> None:
    values = _doubles(2_000)
    base = 1_800_000_000.0
    rows = [
        ReadingRow(
            f"gw-x:{i}", "gw-x", i, f"s-{i % 7}", base + i / 3, v, "degC", None, base + i / 7
        )
        for i, v in enumerate(values, 1)
    ]
    dialect, conn = _connect(db)
    try:
        dialect.migrate(conn, time.time())
        with dialect.transaction(conn):
            assert dialect.insert_readings(conn, rows, time.time()) == {r.id for r in rows}
        stored = {
            r[0]: r[1:] for r in dialect.all(conn, "SELECT id, value, time, received FROM readings")
        }
    finally:
        conn.close()
    for row in rows:
        value, at, received = stored[row.id]
        assert row.received is not None
        assert (_bits(value), _bits(at), _bits(received)) == (
            _bits(row.value), _bits(row.time), _bits(row.received),
        )  # fmt: skip
