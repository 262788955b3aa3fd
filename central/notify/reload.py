"""The notifications config in force, and reloading it (SIGHUP) without losing work.

The holder keeps the running config; `reload()` validates the file first and swaps only a
valid one, so a bad edit is logged (`file:line:col` per problem) and the running config
stays. Pending notifications live in the database, not in the config, so a reload never
drops them: they are sent with the reloaded config's channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from central.notify.config import NotifyConfig, load_notifications
from runtime.errors import ConfigError

log = logging.getLogger("tracseq.central.notify")


@dataclass(frozen=True, slots=True)
class Reloaded:
    ok: bool
    policies: int
    error: str | None = None


class NotifyHolder:
    """The config in force; an empty one (no policies) when central has no file."""

    def __init__(self, path: Path | None, config: NotifyConfig | None = None) -> None:
        self.path = path
        self.config = config if config is not None else NotifyConfig()

    @classmethod
    def load(cls, path: Path | None) -> NotifyHolder:
        """Load at start; raises ConfigError (the caller exits 2)."""
        return cls(path, load_notifications(path) if path is not None else None)

    def reload(self) -> Reloaded:
        if self.path is None:
            return Reloaded(True, 0)
        try:
            config = load_notifications(self.path)
        except ConfigError as exc:
            log.error(
                "notifications file %s not reloaded, the running config stays:\n%s",
                self.path,
                exc,
            )
            return Reloaded(False, len(self.config.policies), str(exc))
        self.config = config
        log.info("notifications file %s reloaded: %d policies", self.path, len(config.policies))
        return Reloaded(True, len(config.policies))
