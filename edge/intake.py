"""Event intake for other lab services: `POST /api/v1/events` on the daemon's listen address.

An instrument controller or a LIMS hook posts one CloudEvent
(`application/cloudevents+json`) or a batch (`application/cloudevents-batch+json`) with
the bearer token of `gateway.intake_token_file`. Each event is validated like central's
ingest; a batch with any bad event is refused whole (400 naming index and field of each).
Good events are committed to the durable log with the gateway's own seq, so they reach
Redis and central like readings; `202` is sent only after the commit.

Stored form: `type` as given when it starts with `org.tracseq.`, else
`org.tracseq.external` with `data.original_type`; `subject` and `time` as given;
`data = {"original_id", "original_source", "data"}`. The gateway's own types (readings,
alarms, gateway.*, sensor.described) are refused: only the gateway writes those.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drivers.base import Reject
from edge.entry import Entry
from edge.errors import LogError
from edge.log import DurableLog
from edge.pipeline import REJECTS
from edgeconfig import Config, read_secret
from runtime import events
from runtime.errors import EnvelopeError

log = logging.getLogger("tracseq.edge.intake")

PATH = "/api/v1/events"
MAX_BODY = 1024 * 1024  # bytes
RESERVED = frozenset(
    {
        events.READING,
        events.ALARM_RAISED,
        events.ALARM_CLEARED,
        events.ALARM_NOTIFIED,
        events.GATEWAY_STARTED,
        events.GATEWAY_STOPPED,
        events.GATEWAY_HEARTBEAT,
        events.SENSOR_DESCRIBED,
    }
)
_MEDIA_TYPES = (events.SINGLE_MEDIA_TYPE, events.BATCH_MEDIA_TYPE, "application/json")

ACCEPTED = Counter("tracseq_edge_intake_events_total", "Events accepted on POST /api/v1/events")


def intake_routes(
    config: Config,
    log: DurableLog,
    *,
    max_body: int = MAX_BODY,
    wall: Callable[[], float] = time.time,
) -> list[Route]:
    """The intake route for the daemon's Starlette app."""
    return [Route(PATH, Intake(config, log, max_body, wall).post, methods=["POST"])]


class Intake:
    """Authenticates, validates and commits posted events."""

    def __init__(
        self, config: Config, log: DurableLog, max_body: int, wall: Callable[[], float]
    ) -> None:
        self._token_file = config.gateway.intake_token_file
        self._gateway = config.gateway.id
        self._log = log
        self._max_body = max_body
        self._wall = wall

    async def post(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _MEDIA_TYPES:
            return _error(
                415,
                f"Content-Type must be {events.SINGLE_MEDIA_TYPE} or {events.BATCH_MEDIA_TYPE} "
                "(structured mode; binary mode is not supported)",
            )
        body = await self._read_body(request)
        if isinstance(body, Response):
            return body
        received = self._wall()
        entries, problems = self._validate(body, media, received)
        if problems:
            self._keep_reject(request, body, problems, received)
            return JSONResponse({"error": "invalid events", "errors": problems}, status_code=400)
        try:
            seqs = await self._log.append(entries)
        except LogError as exc:
            log.error("intake: could not commit %d event(s): %s", len(entries), exc)
            return _error(503, f"could not commit to the durable log: {exc}", retry_after=5)
        ACCEPTED.inc(len(entries))
        ids = [f"{self._gateway}:{seq}" for seq in seqs if seq is not None]
        return JSONResponse({"accepted": len(ids), "ids": ids}, status_code=202)

    # --- steps -------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Response | None:
        if self._token_file is None:
            return _error(404, "the event intake is off: set gateway.intake_token_file")
        token = read_secret(self._token_file)  # read each time: a new token needs no restart
        if token is None:
            return _error(
                503,
                f"the event intake is off: token file {self._token_file} is missing or empty",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return _error(
                401,
                "missing or wrong bearer token (Authorization: Bearer <intake token>)",
                headers={"WWW-Authenticate": 'Bearer realm="tracseq-edge"'},
            )
        return None

    async def _read_body(self, request: Request) -> bytes | Response:
        too_large = _error(413, f"body larger than {self._max_body} bytes")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            return too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body:
                    return too_large
                chunks.append(chunk)
        except ClientDisconnect:
            return _error(400, "the client disconnected before the body was complete")
        return b"".join(chunks)

    def _validate(
        self, body: bytes, media: str, received: float
    ) -> tuple[list[Entry], list[dict[str, Any]]]:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return [], [{"index": None, "field": "", "message": f"not JSON: {exc}"}]
        if media == events.BATCH_MEDIA_TYPE or (media == "application/json" and _is_list(decoded)):
            if not isinstance(decoded, list):
                return [], [{"index": None, "field": "", "message": "a batch must be an array"}]
            if not decoded:
                return [], [{"index": None, "field": "", "message": "the batch is empty"}]
            items = decoded
        elif isinstance(decoded, dict):
            items = [decoded]
        else:
            message = "a single event must be a JSON object (use the batch type for arrays)"
            return [], [{"index": None, "field": "", "message": message}]
        entries: list[Entry] = []
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                entries.append(to_entry(item, received))
            except EnvelopeError as exc:
                problems.append({"index": index, "field": exc.field, "message": str(exc)})
        return entries, problems

    def _keep_reject(
        self, request: Request, body: bytes, problems: list[dict[str, Any]], received: float
    ) -> None:
        where = f"intake:{_remote(request)}"
        reason = "; ".join(
            f"[{p['index']}] {p['message']}" if p["index"] is not None else p["message"]
            for p in problems[:20]
        )
        REJECTS.labels(protocol="intake").inc()
        log.warning("rejected from %s: %s", where, reason)
        try:
            self._log.submit_reject(Reject(where, reason, body, received))
        except LogError as exc:
            log.error("could not keep the rejected intake payload: %s", exc)


def to_entry(obj: Any, received: float) -> Entry:
    """The log entry for one posted event; raises EnvelopeError naming the field."""
    original_type: str | None = None
    if isinstance(obj, dict):
        given = obj.get("type")
        if isinstance(given, str) and given and not given.startswith(events.TYPE_PREFIX):
            original_type = given
            obj = {**obj, "type": events.EXTERNAL}
    event = events.parse(obj)
    if event.type in RESERVED:
        raise EnvelopeError(
            "type", f"{event.type} is reserved for the gateway's own events; use another type"
        )
    data: dict[str, Any] = {
        "original_id": event.id,
        "original_source": event.source,
        "data": event.data,
    }
    if original_type is not None:
        data["original_type"] = original_type
    return Entry(event.type, event.subject, event.time, received, data, keep=True)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _remote(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else "unknown"


def _error(
    status: int,
    message: str,
    *,
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    out = dict(headers or {})
    if retry_after is not None:
        out["Retry-After"] = str(retry_after)
    return JSONResponse({"error": message}, status_code=status, headers=out)
