"""The root of every error a TracSeq service raises on purpose, and the errors they share.

    TracseqError                      runtime.errors (this module)
    ├── ConfigError                   bad configuration or arguments (exit 2), every ConfigIssue
    ├── EnvelopeError                 an event that does not follow the CloudEvents contract
    ├── edge.errors.LogError          the edge's durable log cannot be opened or written
    │   ├── LogFullError              the disk is full (SQLITE_FULL), even after making room
    │   └── LogClosedError            the log was closed while a caller still waited on it
    ├── edge.errors.DeliveryError     an event could not be delivered downstream (Redis)
    ├── edge.errors.StartupError      the daemon cannot start (port taken, data_dir not writable)
    ├── edge.errors.NotifyError       the edge's fallback e-mail was not accepted
    ├── drivers.base.OutputError      a local alarm output's coil could not be written
    │   └── CoilRefused               the device answered with an exception response
    ├── central.storage.errors.StorageError  central's database failed (see that module)
    └── sim.errors.SimulatorError     a simulator scenario cannot run

Each package keeps its own tree below the root; library errors (sqlite3, psycopg, paho,
pymodbus, serial, redis, httpx) are translated where they enter. Bad input is data:
decoders return rejects instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass


class TracseqError(Exception):
    """Base of every error TracSeq raises on purpose."""


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


class EnvelopeError(TracseqError):
    """An event that breaks the CloudEvents contract; `field` names the offending attribute."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
