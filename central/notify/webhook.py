"""The webhook channel (httpx): `json` (CloudEvents + `text` + `short`), `slack`, `teams`.

With `secret_file`, the body is signed: `X-TracSeq-Signature: sha256=<hex>` is the
HMAC-SHA256 of the exact body bytes with the secret, so the receiver can check the message
came from this central and was not changed. An SMS provider is reached through a `json`
webhook: `short` is at most 160 characters and `to` holds the users' phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson

from central.notify.config import Webhook
from central.notify.errors import SendError
from central.notify.messages import Message

SIGNATURE_HEADER = "X-TracSeq-Signature"


def body(config: Webhook, message: Message, meta: dict[str, Any]) -> dict[str, Any]:
    if config.format == "slack":
        return {"text": message.text}
    if config.format == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.subject,
            "title": message.subject,
            "text": message.text.replace("\n", "  \n"),
        }
    return {
        **meta,
        "event": message.event,
        "subject": message.subject,
        "text": message.text,
        "short": message.short,
        "alarms": message.cloudevents(),
    }


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


async def send(
    client: httpx.AsyncClient, config: Webhook, message: Message, meta: dict[str, Any]
) -> None:
    """POST the message; raises SendError (retry on network errors, 429 and 5xx)."""
    payload = orjson.dumps(body(config, message, meta))
    headers = {"Content-Type": "application/json"}
    if config.secret:
        headers[SIGNATURE_HEADER] = signature(config.secret, payload)
    await post(client, config.url, payload, headers, config.timeout)


async def post(
    client: httpx.AsyncClient, url: str, payload: bytes, headers: dict[str, str], timeout: float
) -> None:
    try:
        response = await client.post(url, content=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SendError(f"POST {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        retry = response.status_code >= 500 or response.status_code in (408, 429)
        raise SendError(
            f"POST {url}: HTTP {response.status_code} {response.text[:200]}", retry=retry
        )
