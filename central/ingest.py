"""`POST /api/v1/ingest`: the contract's CloudEvents batches from gateways (and analytics),
and single events in structured or binary mode (`central.content_modes`).

Order of checks, each answered before anything is stored:
401 no or unknown token (403 for an API key) → 503 when shedding load → 415/413/400 for the
body → 403 when any event's `source` is not the token's → 400 listing the index and field
of every invalid event (nothing of the batch is stored, so the uploader can bisect) →
one transaction storing the batch with de-duplication on event id → 200, or a 400 of the
same shape naming each event that touched another gateway's sensor (`subject`) or alarm
(`data.alarm_id`): that transaction is rolled back, so nothing of the batch is stored and
the uploader quarantines just those events (a 403 would stop the gateway's whole sync).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from central.auth import Authenticator
from central.body import BodyError, read_body
from central.content_modes import ACCEPTED, ContentError, events_of, mode_of
from central.metrics import Metrics
from central.plain_batch import MAX_SEQ, PlainReadings, plain_batch
from central.storage import SqlStorage, StorageUnavailable
from central.storage.records import Batch, EventRow, ReadingRow
from central.storage.write import ForeignData
from central.stream import Hub, attribute
from central.watchdog import offline_event
from runtime import events as ev
from runtime import tracing
from runtime.backoff import RetryLog
from runtime.errors import EnvelopeError

log = logging.getLogger("tracseq.central.ingest")

RETRY_AFTER_BUSY = "1"
RETRY_AFTER_DB = "5"


class Ingest:
    """The ingest endpoint and its load shedding (a bounded number of batches in flight)."""

    def __init__(
        self,
        storage: SqlStorage,
        auth: Authenticator,
        metrics: Metrics,
        hub: Hub,
        clock: Callable[[], float],
        *,
        max_body: int,
        max_inflight: int,
    ) -> None:
        self._storage = storage
        self._auth = auth
        self._metrics = metrics
        self._hub = hub
        self._clock = clock
        self._max_body = max_body
        self._max_inflight = max_inflight
        self._inflight = 0
        self._db_retry = RetryLog(log, "storing an ingest batch")

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        # The gateway's sync span (W3C traceparent header) is this span's parent.
        with tracing.batch_span(
            "central.ingest", [request.headers.get("traceparent")], kind=SpanKind.SERVER
        ):
            response = await self._handle(request)
        self._metrics.requests.labels(str(response.status_code)).inc()
        self._metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: Request) -> Response:
        try:
            principal = await self._auth.resolve(request)
        except StorageUnavailable as exc:  # the gateway retries later
            self._db_retry.failed(exc)
            return _error(503, "database unavailable, retry later", {"Retry-After": RETRY_AFTER_DB})
        if principal is None:
            return _error(401, "missing or unknown gateway token", {"WWW-Authenticate": "Bearer"})
        if principal.kind != "gateway" or principal.source is None:
            return _error(403, "only a gateway token may ingest")
        if self._inflight >= self._max_inflight:
            return _error(503, "central is busy, retry later", {"Retry-After": RETRY_AFTER_BUSY})
        self._inflight += 1
        self._metrics.inflight.inc()
        try:
            return await self._ingest(request, principal.source)
        finally:
            self._inflight -= 1
            self._metrics.inflight.dec()

    async def _ingest(self, request: Request, source: str) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        mode = mode_of(media, request.headers)
        if mode is None:
            return _error(415, f"Content-Type must be {ACCEPTED}, got {media!r}")
        try:
            body = await read_body(request, self._max_body)
        except BodyError as exc:
            return _error(exc.status, str(exc))
        now = self._clock()
        batch = plain_batch(body, source, now) if mode == "batched" else None
        if batch is None:  # not all plain readings: every event through the full checks
            try:
                items = events_of(mode, body, request.headers, media)
            except ContentError as exc:
                return _error(400, str(exc))
            foreign = [
                {"index": i, "field": "source", "message": f"{item['source']!r} is not {source!r}"}
                for i, item in enumerate(items)
                if isinstance(item, dict) and isinstance(item.get("source"), str)
                and item["source"] != source
            ]  # fmt: skip
            if foreign:
                message = "the token may only write events of its own source"
                return _error(403, message, errors=foreign)
            batch, errors = build_batch(items, source, now)
            if errors:
                self._metrics.events.labels("invalid").inc(len(errors))
                return _error(400, f"{len(errors)} invalid event(s), nothing stored", errors=errors)
        items = batch.envelopes
        try:
            with tracing.batch_span("central.db.write", attributes={"events": len(items)}):
                result = await self._storage.ingest(batch)
        except ForeignData as exc:  # rolled back: nothing of the batch is stored
            log.warning("refused a batch from %s: %s", source, exc)
            errors = foreign_errors(msgspec.to_builtins(items), exc)
            self._metrics.events.labels("invalid").inc(len(errors))
            message = f"{len(errors)} event(s) write another gateway's data, nothing stored"
            return _error(400, message, errors=errors)
        except StorageUnavailable as exc:  # the gateway retries later
            self._db_retry.failed(exc)
            return _error(503, "database unavailable, retry later", {"Retry-After": RETRY_AFTER_DB})
        self._db_retry.succeeded()
        self._metrics.events.labels("accepted").inc(result.accepted)
        self._metrics.events.labels("duplicate").inc(result.duplicates)
        if result.accepted == len(batch.envelopes):  # all new (the common case)
            self._hub.publish(batch.envelopes)
        else:
            new = result.new_ids
            self._hub.publish(e for e in batch.envelopes if attribute(e, "id") in new)
        for alarm_id in result.cleared_offline:
            assert batch.gateway is not None
            log.info("gateway %s is back: cleared %s", batch.gateway, alarm_id)
            self._hub.publish([offline_event(ev.ALARM_CLEARED, alarm_id, batch.gateway, now)])
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})


def build_batch(items: list[Any], source: str, now: float) -> tuple[Batch, list[dict[str, Any]]]:
    """Validate every event; the batch, or the index/field/message of each bad event.

    A plain reading takes `plain_batch`'s compiled check (the same row, several times
    faster), so a batch of readings with a heartbeat or an alarm in it stays fast; every
    other event, and any reading that check does not accept, takes the full checks."""
    gateway = (
        source[len(ev.EDGE_SOURCE_PREFIX) :] if source.startswith(ev.EDGE_SOURCE_PREFIX) else None
    )
    batch = Batch(source, gateway, now, [], [], items)
    readings, events = batch.readings, batch.events
    errors: list[dict[str, Any]] = []
    plain = PlainReadings.of(source, now)
    for index, item in enumerate(items):
        row: ReadingRow | EventRow | None = plain.row_of(item) if plain is not None else None
        if row is None:
            try:
                row = checked_row(item, now)
            except EnvelopeError as exc:
                errors.append({"index": index, "field": exc.field, "message": str(exc)})
                continue
        if isinstance(row, ReadingRow):
            readings.append(row)
        else:
            events.append(row)
    return batch, errors


def checked_row(item: Any, now: float) -> ReadingRow | EventRow:
    """One event through every check (`ev.parse`, `_check`), as the row it is stored as;
    raises EnvelopeError naming the field at fault."""
    event = ev.parse(item)
    _check(event)
    received = _received(event)
    data, edge = event.data, event.gateway
    if event.type == ev.READING:
        assert edge is not None and event.subject is not None
        return ReadingRow(
            event.id,
            edge,
            int(data["seq"]),
            event.subject,
            event.time if event.time is not None else (received or now),
            float(data["value"]),
            _text(data.get("unit")),
            _text(data.get("quantity")),
            received,
        )
    return EventRow(
        id=event.id,
        source=event.source,
        gateway=edge,
        seq=data.get("seq") if edge is not None else None,
        type=event.type,
        subject=event.subject,
        time=event.time if event.time is not None else (received or now),
        received=received,
        data=event.data,
        data_json=orjson.dumps(event.data).decode(),
    )


def foreign_errors(items: list[Any], exc: ForeignData) -> list[dict[str, Any]]:
    """The 400 entries (index, field, message) of the events that touched foreign data."""
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        kind, subject, data = item.get("type"), item.get("subject"), item.get("data") or {}
        alarm_id = data.get("alarm_id") if kind in (ev.ALARM_RAISED, ev.ALARM_CLEARED) else None
        if alarm_id in exc.alarms:
            owner = exc.alarms[alarm_id]
            message = f"alarm {alarm_id!r} belongs to {owner!r}, not to {exc.gateway!r}"
            errors.append({"index": index, "field": "data.alarm_id", "message": message})
        elif subject in exc.sensors and kind != ev.ALARM_CLEARED:
            message = (
                f"sensor {subject!r} belongs to gateway {exc.sensors[subject]!r}; moving it "
                "to another gateway is an admin action (tracseq-edge central sensor move)"
            )
            errors.append({"index": index, "field": "subject", "message": message})
    return errors


def _check(event: ev.CloudEvent) -> None:
    """Contract rules beyond the envelope, per event type (raises EnvelopeError)."""
    data, gateway = event.data, event.gateway
    if gateway is not None:
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise EnvelopeError("data.seq", "must be an integer from 0 to 2^63-1")
        if event.id != f"{gateway}:{seq}":
            raise EnvelopeError("id", f"must be '<gateway>:<seq>' = '{gateway}:{seq}'")
    elif not event.source.startswith(ev.ANALYTICS_SOURCE_PREFIX):
        raise EnvelopeError("source", "must be tracseq-edge/<gateway> or tracseq-analytics/<id>")
    if event.type == ev.READING:
        if gateway is None:
            raise EnvelopeError("source", "a reading must come from a gateway")
        if not event.subject:
            raise EnvelopeError("subject", "a reading needs the sensor id as subject")
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EnvelopeError("data.value", f"must be a number, got {value!r}"[:200])
        for name in ("unit", "quantity", "kind"):
            text = data.get(name)
            if text is not None and not isinstance(text, str):
                raise EnvelopeError(f"data.{name}", "must be a string")
    elif event.type in (ev.ALARM_RAISED, ev.ALARM_CLEARED):
        for name in ("alarm_id", "rule"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise EnvelopeError(f"data.{name}", "must be a non-empty string")
        if event.gateway is None:
            raise EnvelopeError("source", "alarm events come from a gateway")
        if not data["alarm_id"].startswith(f"{event.gateway}:"):
            # Gateway isolation: one gateway's token cannot raise, clear or rewrite another's.
            raise EnvelopeError("data.alarm_id", f"must start with '{event.gateway}:'")
    elif event.type == ev.ALARM_NOTIFIED:  # the edge's fallback e-mail, kept in `events`
        if not isinstance(data.get("alarm_id"), str) or not data["alarm_id"]:
            raise EnvelopeError("data.alarm_id", "must be a non-empty string")
        if gateway is None or not data["alarm_id"].startswith(f"{gateway}:"):
            raise EnvelopeError("data.alarm_id", f"must start with '{gateway}:'")
    elif event.type == ev.SENSOR_DESCRIBED:
        if not event.subject:
            raise EnvelopeError("subject", "sensor.described needs the sensor id as subject")
        if data.get("alarms") is not None and not isinstance(data["alarms"], dict):
            raise EnvelopeError("data.alarms", "must be an object")
    elif event.type == ev.ANALYTICS_STATUS and not isinstance(data.get("sensor"), str):
        raise EnvelopeError("data.sensor", "must be the sensor id")


def _received(event: ev.CloudEvent) -> float | None:
    text = event.data.get("received")
    if text is None:
        return None
    try:
        return ev.parse_time(text)
    except ValueError as exc:
        raise EnvelopeError("data.received", str(exc)) from None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)
