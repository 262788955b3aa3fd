"""Central's storage: one small interface (`SqlStorage`), two backends (SQLite, PostgreSQL).

`open_storage(url)` picks the backend from the URL scheme:
`sqlite:///central.db` (relative), `sqlite:////var/lib/tracseq/central.db` (absolute),
`postgresql://user@host/db` (psycopg 3 / libpq URL).
"""

from __future__ import annotations

from collections.abc import Callable

from central.storage.errors import StorageError, StorageUnavailable
from central.storage.sql import SqlStorage

__all__ = [
    "DEFAULT_URL",
    "SqlStorage",
    "StorageError",
    "StorageUnavailable",
    "check_url",
    "open_storage",
]

DEFAULT_URL = "sqlite:///central.db"


def check_url(url: str) -> None:
    """Raise StorageError for a URL no backend understands (without opening anything)."""
    if url.startswith("sqlite:"):
        from central.storage.sqlite import path_of

        path_of(url)
    elif not url.startswith(("postgresql://", "postgres://")):
        raise StorageError(
            f"unsupported database URL {url!r} (use sqlite:///central.db or postgresql://host/db)"
        )


def open_storage(url: str, clock: Callable[[], float]) -> SqlStorage:
    """The storage for `url`; raises StorageError for a URL no backend understands."""
    check_url(url)
    if url.startswith("sqlite:"):
        from central.storage.sqlite import open_sqlite

        return open_sqlite(url, clock)
    from central.storage.postgres import open_postgres

    return open_postgres(url, clock)
