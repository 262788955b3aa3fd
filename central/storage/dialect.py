"""What differs between the SQLite and PostgreSQL backends, behind one small class.

Shared SQL is written once with `?` placeholders; `Dialect.q` turns it into the driver's
style. Bulk inserts (the hot path), the time-bucket expression and how a statement takes
many rows or ids (`rows`, `one_of`) differ per backend.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from central.storage.records import EventRow, ReadingRow


class Dialect(ABC):
    """One backend's SQL differences; instances are stateless and shared by threads."""

    name: str

    @abstractmethod
    def q(self, sql: str) -> str:
        """`sql` with `?` placeholders rewritten for this driver."""

    @abstractmethod
    def transaction(self, conn: Any) -> contextlib.AbstractContextManager[None]:
        """A write transaction: commit on success, roll back on error."""

    @abstractmethod
    def insert_readings(self, conn: Any, rows: Sequence[ReadingRow], now: float) -> set[str]:
        """Insert rows, ignoring ids already stored; returns the ids that were new."""

    @abstractmethod
    def insert_events(self, conn: Any, rows: Sequence[EventRow], now: float) -> set[str]:
        """Insert rows, ignoring ids already stored; returns the ids that were new."""

    @abstractmethod
    def bucket(self, step: float) -> str:
        """SQL for the start of the `step`-second bucket of column `time`."""

    @abstractmethod
    def migrate(self, conn: Any, now: float) -> int:
        """Apply missing migrations; returns the schema version."""

    @abstractmethod
    def rows(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """The row source of `INSERT INTO t (columns) <source>` for `rows` (one value per
        column, `types` their SQL types: TEXT, FLOAT, BIGINT, INTEGER), and its parameters."""

    @abstractmethod
    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition that `column` is one of `values` (not empty), and its parameters."""

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self.q(sql), tuple(params))

    def all(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(conn, sql, params).fetchall())

    def one(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(conn, sql, params).fetchone()
