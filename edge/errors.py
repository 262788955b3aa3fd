"""The edge daemon's errors, below the shared root (`runtime.errors`).

TracseqError (runtime.errors)
├── LogError           the durable log cannot be opened or written; `cause` is the
│   │                  SQLite error behind it, when there is one (also its __cause__)
│   ├── LogFullError   the disk (or the database's page limit) is full, even after the
│   │                  size cap dropped what it may (SQLITE_FULL)
│   └── LogClosedError the log was closed while a caller still waited on it
├── DeliveryError      an event could not be delivered to Redis; the caller retries
├── StartupError       the daemon cannot start (its port is taken, data_dir not writable)
└── NotifyError        the edge's fallback e-mail was not accepted by the SMTP server
"""

from __future__ import annotations

from runtime.errors import TracseqError


class LogError(TracseqError):
    """The durable log failed (disk, schema, corruption); `cause` is the SQLite error."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class LogFullError(LogError):
    """The disk is full: a commit failed with SQLITE_FULL even after making room."""


class LogClosedError(LogError):
    """The durable log was closed while a caller still waited for a commit."""


class DeliveryError(TracseqError):
    """An event could not be delivered to Redis; the caller retries."""


class StartupError(TracseqError):
    """The daemon cannot start at all (exit 1; systemd's Restart=on-failure retries)."""


class NotifyError(TracseqError):
    """The fallback e-mail was not accepted (SMTP server down, refused, auth failed)."""
