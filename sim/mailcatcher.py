"""A local SMTP catcher (aiosmtpd): accepts every message, keeps it, writes it to a folder.

The demo starts one so a newcomer sees the compressor failure arrive as an e-mail (each
message is a `.eml` file in the folder the demo prints, readable with any mail program or
`less`); the tests use it as a real SMTP server they can stop and start again.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True, slots=True)
class Caught:
    sender: str
    recipients: tuple[str, ...]
    message: Message
    received: float
    login: str | None = None  # the AUTH user name, when the client authenticated
    tls: bool = False  # whether the session was encrypted (STARTTLS or implicit TLS)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def text(self) -> str:
        part = self.message.get_payload(decode=True)
        if isinstance(part, bytes):
            return part.decode("utf-8", "replace")
        return str(self.message.get_payload())


@dataclass
class _Handler:
    folder: Path | None
    implicit_tls: bool = False
    caught: list[Caught] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        login = getattr(session, "auth_data", None)
        item = Caught(
            str(envelope.mail_from),
            tuple(str(r) for r in envelope.rcpt_tos),
            message_from_bytes(data),
            time.time(),
            login if isinstance(login, str) else None,
            self.implicit_tls or bool(getattr(session, "ssl", None)),
        )
        with self.lock:
            self.caught.append(item)
            count = len(self.caught)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{count:05d}.eml").write_bytes(data)
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on 127.0.0.1:`port` that can be stopped and started again.

    `tls`: a server context offered by STARTTLS (`implicit_tls`: TLS from the first byte
    instead); `logins`: user name -> password accepted by AUTH (then required)."""

    def __init__(
        self,
        port: int,
        folder: Path | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self._handler = _Handler(folder, implicit_tls=tls is not None and implicit_tls)
        self._controller: Controller | None = None
        self._tls = tls
        self._implicit = implicit_tls
        self._logins = logins

    @property
    def messages(self) -> list[Caught]:
        with self._handler.lock:
            return list(self._handler.caught)

    def start(self) -> MailCatcher:
        options: dict[str, Any] = {}
        if self._tls is not None and self._implicit:
            options["ssl_context"] = self._tls
        elif self._tls is not None:
            options["tls_context"] = self._tls
        if self._logins is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd sees only STARTTLS as TLS; implicit TLS is encrypted from the start.
                auth_require_tls=self._tls is not None and not self._implicit,
            )
        controller = Controller(self._handler, hostname="127.0.0.1", port=self.port, **options)
        controller.start()
        self._controller = controller
        return self

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        logins = self._logins or {}
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if logins.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
