"""The e-mail channel: aiosmtplib, `security: starttls | tls | none`, optional AUTH.

A message goes to one recipient (one notification per address); the notification id is in
the `X-TracSeq-Notification` header so a mailbox can tell a retry from a new message. A
scheduled report (central/notify/reports.py) comes as a PDF attachment.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from central.notify.config import Smtp
from central.notify.errors import SendError
from central.notify.messages import Message

Attachment = tuple[str, bytes]  # (file name, PDF bytes): a scheduled report


def email(
    config: Smtp,
    to: list[str],
    message: Message,
    notification_id: int,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain="tracseq.local")
    mail["X-TracSeq-Notification"] = str(notification_id)
    # Plain ASCII stays readable as it is (a saved .eml, a terminal); other text is encoded.
    mail.set_content(message.text, cte="7bit" if message.text.isascii() else "quoted-printable")
    for name, data in attachments:
        mail.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return mail


async def send(
    config: Smtp,
    to: list[str],
    message: Message,
    notification_id: int,
    attachments: Sequence[Attachment] = (),
) -> None:
    """Hand the message to the SMTP server; raises SendError (retry unless refused)."""
    if not to:
        raise SendError("no recipient address", retry=False)
    try:
        await aiosmtplib.send(
            email(config, to, message, notification_id, attachments),
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",  # never "auto": `none` means none
            username=config.username,
            password=config.password,
            timeout=config.timeout,
            cert_bundle=None if config.ca_file is None else str(config.ca_file),
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"SMTP {config.host}: recipient refused: {exc}", retry=False) from None
    except aiosmtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.code < 600 and exc.code not in (421, 450, 451, 452)
        raise SendError(
            f"SMTP {config.host}:{config.port}: {exc.code} {exc.message}", retry=not permanent
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {config.host}:{config.port}: {exc}") from None
