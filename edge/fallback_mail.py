"""The edge's own e-mail: one message through the configured SMTP server (`notify.smtp`).

aiosmtplib speaks SMTP on the event loop (no thread); `security` picks implicit TLS
(`tls`, usually port 465), STARTTLS (`starttls`, usually 587; refused if the server does
not offer it) or plain text (`none`, a relay on the local network). Its errors are
translated into `NotifyError` here.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from edge.errors import NotifyError
from edgeconfig import Smtp, read_secret


def compose(smtp: Smtp, to: list[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.from_
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=smtp.host)
    message.set_content(body)
    return message


async def send(smtp: Smtp, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server; raises NotifyError when it was not accepted."""
    password = read_secret(smtp.password_file)
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=password if smtp.username else None,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",  # False: never upgrade on `none`
            timeout=smtp.timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"smtp {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None
