"""The error hierarchy of TracSeq Edge.

    TracseqError
    ├── ConfigError        bad configuration or arguments (exit 2); holds every ConfigIssue
    ├── DecodeError        a payload, register block or line that cannot become a reading
    ├── EnvelopeError      an event that does not follow the CloudEvents contract
    ├── LogError           the durable log cannot be opened or written
    │   └── LogClosedError the log was closed while a caller still waited on it
    ├── DeliveryError      an event could not be delivered downstream (Redis, central)
    └── StartupError       a service cannot start (its port is taken, data_dir not writable)

Bad input is data: decoders return rejects instead of raising where they can; these
exceptions cross module boundaries only where the caller has a decision to make.
"""

from __future__ import annotations

from dataclasses import dataclass


class TracseqError(Exception):
    """Base of every error TracSeq Edge raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file, with the place it was found."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(TracseqError):
    """A configuration with one or more problems; str() lists every one, a line each."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class DecodeError(TracseqError):
    """Input that cannot be turned into a reading; the message names the place and field."""


class EnvelopeError(TracseqError):
    """An event that breaks the CloudEvents contract; `field` names the offending attribute."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class LogError(TracseqError):
    """The durable log failed (disk, schema, corruption)."""


class LogClosedError(LogError):
    """The durable log was closed while a caller still waited for a commit."""


class DeliveryError(TracseqError):
    """An event could not be delivered to Redis or central; the caller retries."""


class StartupError(TracseqError):
    """A service cannot start at all (exit 1; systemd's Restart=on-failure retries)."""
