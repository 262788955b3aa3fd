"""Central's storage errors: what callers above storage catch instead of sqlite3/psycopg.

    TracseqError                    runtime.errors
    └── StorageError                the database cannot be used: bad URL, a schema newer than
        │                           this build, a driver error that retrying will not fix
        │                           (answered 500 and logged with its traceback)
        └── StorageUnavailable      connection lost, database down, locked or busy: retrying
                                    later makes sense (answered 503 + Retry-After)

Driver errors are translated where the library call is made: the worker thread that owns the
connection (central/storage/runner.py) hands each failed job's error to its backend's
`translate` (sqlite.py by `sqlite_errorcode`, postgres.py by psycopg's error class); the
driver's error stays attached as `__cause__`. Exceptions that are not a driver's (a
`KeyError` in our own code) pass through untouched: they are bugs, never "unavailable".
"""

from __future__ import annotations

from runtime.errors import TracseqError


class StorageError(TracseqError):
    """The central database cannot be used (bad URL, newer schema, a failed statement)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or is busy right now; the same call may work later."""
