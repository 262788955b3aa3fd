"""Errors of the notification channels.

    TracseqError (runtime.errors)
    └── SendError        a channel did not accept a message; `retry` says whether trying
                         again later can help (network down, 4xx/5xx SMTP temporary, HTTP
                         5xx/429) or not (recipient refused, HTTP 4xx)

Library errors (aiosmtplib, httpx, OSError) are translated into SendError in the channel
modules, so the sender never catches a library's exception.
"""

from __future__ import annotations

from runtime.errors import TracseqError


class SendError(TracseqError):
    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry
