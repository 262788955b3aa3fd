"""A real SMTP server (aiosmtpd) on a free loopback port that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


class Catcher:
    """The aiosmtpd handler: `messages` in the order accepted, with their envelopes."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    # aiosmtpd calls handle_<SMTP verb>.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[Controller, Catcher]]:
    """Serve SMTP (no TLS, no auth) on 127.0.0.1 until the block ends."""
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller, catcher
    finally:
        controller.stop()
