"""A real SMTP server (aiosmtpd) on a free loopback port that keeps every message it accepts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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


class Login:
    """An aiosmtpd authenticator that accepts one user name and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username.encode(), password.encode()
        self.logins: list[str] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.username,
            self.password,
        )
        if ok:
            self.logins.append(self.username.decode())
        return AuthResult(success=ok)


@asynccontextmanager
async def smtp_server(
    port: int | None = None, login: Login | None = None
) -> AsyncIterator[tuple[Controller, Catcher]]:
    """Serve SMTP (no TLS; with `login`, AUTH required) on 127.0.0.1 until the block ends.

    Started and stopped from a thread: stopping waits for open connections to close, and
    a client in the test's own event loop closes its socket only when that loop runs."""
    catcher = Catcher()
    auth: dict[str, Any] = {}
    if login is not None:
        auth = {"authenticator": login, "auth_required": True, "auth_require_tls": False}
    controller = Controller(catcher, hostname="127.0.0.1", port=port or free_port(), **auth)
    await asyncio.to_thread(controller.start)
    try:
        yield controller, catcher
    finally:
        await asyncio.to_thread(controller.stop)
