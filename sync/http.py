"""The HTTP side of sync: one keep-alive httpx client that POSTs batches to central.

`CentralClient.post(body)` turns every possible answer into an `Answer` the uploader can
act on; it never raises for HTTP statuses or network errors (those are answers too).
The bearer token is read from `TRACSEQ_SYNC_TOKEN` or `sync.token_file`, and re-read
while it is missing or after a 401/403, so an operator can provision it while we run.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal

import httpx
import orjson

from edgeconfig import Sync
from runtime import events

log = logging.getLogger("tracseq.sync.http")

INGEST_PATH = "/api/v1/ingest"
MAX_RETRY_AFTER = 600.0  # never let a server park us for longer than this

# ok: stored (200). rejected: 400/422 naming bad events by index, split to find them.
# too_large: 413, split. retry: network error, 5xx, 429: the same batch again after a
# backoff. auth: 401/403 or no token. refused: any other answer (a wrong URL, a 400 about
# the request as a whole such as "body is not JSON"...): kept and retried slowly.
Kind = Literal["ok", "rejected", "too_large", "retry", "auth", "refused"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What central (or the network) said about one POST."""

    kind: Kind
    status: int | None = None  # None for a network error
    detail: str = ""
    retry_after: float | None = None
    accepted: int = 0
    duplicates: int = 0


class CentralClient:
    """POSTs gzipped CloudEvents batches to `<sync.url>/api/v1/ingest` over keep-alive."""

    def __init__(self, sync: Sync, *, connections: int = 4) -> None:
        self._sync = sync
        self._token: str | None = None
        warning = sync.plain_http_warning()
        if warning:
            log.warning("%s", warning)
        verify: ssl.SSLContext | bool = True
        if sync.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(sync.ca_file))
        self._http = httpx.AsyncClient(
            base_url=sync.url,
            verify=verify,
            timeout=httpx.Timeout(sync.timeout, connect=min(sync.timeout, 10.0)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={
                "Content-Type": events.BATCH_MEDIA_TYPE,
                "Content-Encoding": "gzip",
                "User-Agent": "tracseq-edge-sync",
            },
        )

    async def __aenter__(self) -> CentralClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    @property
    def url(self) -> str:
        return self._sync.url + INGEST_PATH

    async def post(self, body: bytes, traceparent: str | None = None) -> Answer:
        """Send one gzipped batch and classify the answer (`traceparent`: W3C header)."""
        token = self._current_token()
        if token is None:
            where = self._sync.token_file or "sync.token_file"
            return Answer("auth", detail=f"no sync token: set TRACSEQ_SYNC_TOKEN or {where}")
        try:
            headers = {"Authorization": f"Bearer {token}"}
            if traceparent is not None:
                headers["traceparent"] = traceparent
            response = await self._http.post(INGEST_PATH, content=body, headers=headers)
        except httpx.TransportError as exc:
            return Answer("retry", detail=f"{type(exc).__name__}: {exc}".rstrip(": "))
        return self._classify(response)

    def _current_token(self) -> str | None:
        if self._token is None:
            self._token = self._sync.token()
        return self._token

    def _classify(self, response: httpx.Response) -> Answer:
        status = response.status_code
        if status == 200:
            accepted, duplicates = _counts(response.content)
            return Answer("ok", status, accepted=accepted, duplicates=duplicates)
        detail = f"HTTP {status}: {_excerpt(response.content)}"
        if status in (400, 422):
            # Only a 400 that names events says which ones are bad. One about the request
            # itself ("body is not JSON", from central or a proxy in between) would be
            # said of every half too: splitting would quarantine every event.
            kind: Kind = "rejected" if _names_events(response.content) else "refused"
            return Answer(kind, status, detail)
        if status == 413:
            return Answer("too_large", status, detail)
        if status in (401, 403):
            self._token = None  # re-read: the operator may be fixing it right now
            return Answer("auth", status, detail)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return Answer("retry", status, detail, retry_after=retry_after)
        return Answer("refused", status, detail)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now is None else now
    return min(max(0.0, when - now), MAX_RETRY_AFTER)


def _names_events(content: bytes) -> bool:
    """Whether an error body lists bad events by index (`{"errors": [{"index": 3, ...}]}`)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and type(e.get("index")) is int for e in errors
    )


def _counts(content: bytes) -> tuple[int, int]:
    try:
        answer = orjson.loads(content)
        return int(answer.get("accepted", 0)), int(answer.get("duplicates", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0, 0


def _excerpt(content: bytes, limit: int = 500) -> str:
    text = content[:limit].decode("utf-8", "replace").strip()
    return text + ("..." if len(content) > limit else "")
