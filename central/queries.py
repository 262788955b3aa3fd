"""The query API (contract: "Central query API"): JSON for tools and the dashboard.

Every endpoint needs an API key (`Authorization: Bearer`) or a signed-in session of role
viewer or higher (central/access.py; a session's writes also need `X-CSRF-Token`);
acknowledging an alarm needs operator. Times are RFC 3339 UTC strings in responses; query
parameters `from`/`to` take RFC 3339 or epoch seconds, `step` a duration (`5m`) or seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from central import access, acks, signatures, twin_status
from central.services import Services
from central.stream import while_allowed
from runtime.durations import parse_duration
from runtime.events import MAX_TIME, MIN_TIME, format_time, parse_time

log = logging.getLogger("tracseq.central.queries")

DEFAULT_WINDOW = 86_400.0
MAX_RAW = 100_000
MAX_BUCKETS = 20_000
PENDING_LOOKBACK = 3600.0  # seconds before a pending delay's end searched for its start
_TIME_FIELDS = (
    "first_seen",
    "last_seen",
    "last_received",
    "started_at",
    "stopped_at",
    "described_at",
    "last_time",
    "raised_at",
    "cleared_at",
    "at",
)

Handler = Callable[[Request], Awaitable[Response]]


class BadQuery(Exception):
    """A query parameter that cannot be used; the message names it."""


def routes(services: Services) -> list[Route]:
    q = Queries(services)
    return [
        Route("/api/v1/gateways", q.guarded("viewer", q.gateways)),
        Route("/api/v1/sensors", q.guarded("viewer", q.sensors)),
        Route("/api/v1/sensors/{sensor}/readings", q.guarded("viewer", q.readings)),
        Route("/api/v1/alarms", q.guarded("viewer", q.alarms)),
        Route(
            "/api/v1/alarms/{alarm_id}/ack",
            q.guarded("operator", partial(acks.alarm, services)),
            methods=["POST"],
        ),
        Route(
            "/api/v1/sensors/{sensor}/ack",
            q.guarded("operator", partial(acks.sensor, services)),
            methods=["POST"],
        ),
        Route("/api/v1/sensors/{sensor}/analytics", q.guarded("viewer", q.analytics)),
        Route("/api/v1/stream", q.guarded("viewer", q.stream)),
    ]


class Queries:
    """The query API's handlers; `guarded` puts the role check and 400 answers around one."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.storage = services.storage

    def guarded(self, role: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            identity = await access.check(self.services, request, role)  # API key or session
            if isinstance(identity, Response):
                return identity
            try:
                return await handler(request)
            except BadQuery as exc:
                return _json({"error": str(exc)}, 400)

        return endpoint

    async def gateways(self, request: Request) -> Response:
        now = self.services.clock()
        rows = await self.storage.gateways()
        offline = {
            a["gateway"]
            for a in await self.storage.alarms(True, 10_000)
            if a["rule"] == "gateway_offline"
        }
        for row in rows:
            seen = row["last_seen"]
            row["online"] = (
                seen is not None
                and now - seen < self.services.settings.offline_after
                and row["id"] not in offline
            )
        return _json({"gateways": [_times(r) for r in rows]})

    async def sensors(self, request: Request) -> Response:
        now = self.services.clock()
        rows = await self.storage.sensors()
        for row in rows:
            row["pending"] = await self._pending(row)
            row["status"] = twin_status.status(row, now)
            row["active_alarms"] = [_times(a) for a in row["active_alarms"]]
        return _json({"sensors": [_times(r) for r in rows]})

    async def _pending(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The limits exceeded while their alarm's delay runs, each with since when."""
        found = twin_status.breached(row)
        if found and row["last_time"] is not None:
            end = row["last_time"]
            start = end - max(p["for_s"] for p in found) - PENDING_LOOKBACK
            recent = await self.storage.readings(row["id"], start, end + 0.001, MAX_RAW)
            for item in found:
                began = twin_status.since(recent, item)
                item["since"] = format_time(began) if began is not None else None
        return found

    async def readings(self, request: Request) -> Response:
        sensor = request.path_params["sensor"]
        start, end = _window(request)
        step_text = request.query_params.get("step")
        out: dict[str, Any] = {"sensor": sensor, "from": format_time(start), "to": format_time(end)}
        if not step_text:
            limit = _int(request, "limit", MAX_RAW, 1, MAX_RAW)
            rows = await self.storage.readings(sensor, start, end, limit)
            out["step"] = None
            out["readings"] = [{"time": format_time(t), "value": v} for t, v in rows]
            out["truncated"] = len(rows) == limit
            return _json(out)
        step = _duration("step", step_text)
        if (end - start) / step > MAX_BUCKETS:
            raise BadQuery(
                f"step: {step_text} gives more than {MAX_BUCKETS} buckets; use a larger step"
            )
        buckets = await self.storage.buckets(sensor, start, end, step)
        out["step"] = step
        out["buckets"] = [
            {"time": format_time(b), "min": lo, "avg": avg, "max": hi, "count": n}
            for b, lo, avg, hi, n in buckets
        ]
        return _json(out)

    async def alarms(self, request: Request) -> Response:
        state = request.query_params.get("state", "active")
        if state not in ("active", "all"):
            raise BadQuery(f"state: must be active or all, got {state!r}")
        limit = _int(request, "limit", 1000, 1, 10_000)
        rows = await self.storage.alarms(state == "active", limit)
        units = {s["id"]: s["unit"] for s in await self.storage.sensors()} if rows else {}
        now = self.services.clock()
        for row in rows:
            if row["duration_s"] is None and row["raised_at"] is not None:
                row["duration_s"] = max(0.0, now - row["raised_at"])
            row["acks"] = [_times(a) for a in row["acks"]]
            row["acknowledged"] = bool(row["acks"])
            row["unit"] = _alarm_unit(row["rule"], units.get(row["subject"]))
        await self._signatures([a for row in rows for a in row["acks"]])
        return _json({"alarms": [_times(r) for r in rows]})

    async def _signatures(self, acks: list[dict[str, Any]]) -> None:
        """Each acknowledgement's electronic signature (central/signatures.py), or null."""
        ids = [str(a["id"]) for a in acks]
        signed = (
            await self.storage.run_read(
                lambda conn, d: signatures.of_records(conn, d, "alarm_ack", ids)
            )
            if ids
            else {}
        )
        for ack in acks:
            found = signed.get(str(ack["id"]))
            ack["signature"] = signatures.to_json(found[-1]) if found else None

    async def analytics(self, request: Request) -> Response:
        sensor = request.path_params["sensor"]
        limit = _int(request, "limit", 50, 1, 1000)
        rows = await self.storage.analytics(sensor, limit)
        for row in rows:
            row["time"] = format_time(row["time"]) if row["time"] is not None else None
        return _json({"sensor": sensor, "events": rows})

    async def stream(self, request: Request) -> Response:
        last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        who = request.state.identity.principal

        async def allowed() -> bool:  # signed out, disabled or revoked since: the stream ends
            again = await access.identify(self.services, request)
            return again is not None and again.principal == who

        every = self.services.settings.sse_keepalive
        return StreamingResponse(
            while_allowed(self.services.hub.follow(last, every), allowed, every),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _alarm_unit(rule: str, unit: str | None) -> str | None:
    """The unit of an alarm's value and limit: the sensor's, per minute for rate rules,
    seconds of silence for offline and gateway_offline alarms, seconds overdue for
    calibration_due."""
    if rule in ("offline", "gateway_offline", "calibration_due"):
        return "s"
    if unit is None:
        return None
    return f"{unit}/min" if rule == "rate" else unit


def _window(request: Request) -> tuple[float, float]:
    now = request.app.state.services.clock()
    end = _time(request, "to", now)
    start = _time(request, "from", max(MIN_TIME, end - DEFAULT_WINDOW))
    if start >= end:
        raise BadQuery("from: must be before to")
    return start, end


def _time(request: Request, name: str, default: float) -> float:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_time(text)
        except ValueError:
            raise BadQuery(
                f"{name}: {text!r} is not RFC 3339 (2026-11-24T10:00:00Z) or epoch seconds"
            ) from None
    if not math.isfinite(value) or not MIN_TIME <= value <= MAX_TIME:
        raise BadQuery(f"{name}: must be epoch seconds within the years 1 to 9999")
    return value


def _duration(name: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise BadQuery(f"{name}: {exc}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadQuery(f"{name}: must be a positive duration such as 5m")
    return seconds


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadQuery(f"{name}: must be an integer from {low} to {high}")
    return int(text)


def _times(row: dict[str, Any]) -> dict[str, Any]:
    for key in _TIME_FIELDS:
        if isinstance(row.get(key), int | float):
            row[key] = format_time(row[key])
    return row


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
