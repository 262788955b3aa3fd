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
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from central import access
from runtime.durations import parse_duration
from runtime.events import MAX_TIME, MIN_TIME, format_time, parse_time

if TYPE_CHECKING:
    from central.app import Services

log = logging.getLogger("tracseq.central.queries")

DEFAULT_WINDOW = 86_400.0
MAX_RAW = 100_000
MAX_BUCKETS = 20_000
# What does not count as text in an acknowledgement's `by`/`comment`: white space as Python
# (str.isspace) and JSON Schema's ECMA-262 regexes see it, so the OpenAPI pattern built from
# it (central/openapi.py) and this check agree on every string.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
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
    storage = services.storage

    def guarded(role: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            identity = await access.check(services, request, role)  # API key or session
            if isinstance(identity, Response):
                return identity
            try:
                return await handler(request)
            except BadQuery as exc:
                return _json({"error": str(exc)}, 400)
            except Exception:
                log.exception("query %s failed", request.url.path)
                return _unavailable()

        return endpoint

    async def gateways(request: Request) -> Response:
        now = services.clock()
        rows = await storage.gateways()
        offline = {
            a["gateway"]
            for a in await storage.alarms(True, 10_000)
            if a["rule"] == "gateway_offline"
        }
        for row in rows:
            seen = row["last_seen"]
            row["online"] = (
                seen is not None
                and now - seen < services.settings.offline_after
                and row["id"] not in offline
            )
        return _json({"gateways": [_times(r) for r in rows]})

    async def sensors(request: Request) -> Response:
        now = services.clock()
        rows = await storage.sensors()
        for row in rows:
            row["status"] = _status(row, now)
            row["active_alarms"] = [_times(a) for a in row["active_alarms"]]
        return _json({"sensors": [_times(r) for r in rows]})

    async def readings(request: Request) -> Response:
        sensor = request.path_params["sensor"]
        start, end = _window(request)
        step_text = request.query_params.get("step")
        out: dict[str, Any] = {"sensor": sensor, "from": format_time(start), "to": format_time(end)}
        if not step_text:
            limit = _int(request, "limit", MAX_RAW, 1, MAX_RAW)
            rows = await storage.readings(sensor, start, end, limit)
            out["step"] = None
            out["readings"] = [{"time": format_time(t), "value": v} for t, v in rows]
            out["truncated"] = len(rows) == limit
            return _json(out)
        step = _duration("step", step_text)
        if (end - start) / step > MAX_BUCKETS:
            raise BadQuery(
                f"step: {step_text} gives more than {MAX_BUCKETS} buckets; use a larger step"
            )
        buckets = await storage.buckets(sensor, start, end, step)
        out["step"] = step
        out["buckets"] = [
            {"time": format_time(b), "min": lo, "avg": avg, "max": hi, "count": n}
            for b, lo, avg, hi, n in buckets
        ]
        return _json(out)

    async def alarms(request: Request) -> Response:
        state = request.query_params.get("state", "active")
        if state not in ("active", "all"):
            raise BadQuery(f"state: must be active or all, got {state!r}")
        limit = _int(request, "limit", 1000, 1, 10_000)
        rows = await storage.alarms(state == "active", limit)
        now = services.clock()
        for row in rows:
            if row["duration_s"] is None and row["raised_at"] is not None:
                row["duration_s"] = max(0.0, now - row["raised_at"])
            row["acks"] = [_times(a) for a in row["acks"]]
        return _json({"alarms": [_times(r) for r in rows]})

    async def ack(request: Request) -> Response:
        alarm_id = request.path_params["alarm_id"]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise BadQuery(f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadQuery('body must be {"by": ..., "comment": ...}')
        principal = request.state.principal
        if principal.kind == "user":  # a signed-in person acknowledges in their own name
            body["by"] = principal.name
        for name, most in (("by", 200), ("comment", 4000)):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip(BLANK):
                raise BadQuery(f"{name}: required, a non-empty string")
            if len(value) > most:
                raise BadQuery(f"{name}: at most {most} characters")
        actor = access.actor(principal)
        by, comment = body["by"].strip(), body["comment"].strip()
        ack_id = await storage.ack(alarm_id, by, comment, actor)
        if ack_id is None:
            return _json({"error": f"no alarm {alarm_id!r}"}, 404)
        return _json(
            {"id": ack_id, "alarm_id": alarm_id, "by": by, "comment": comment, "actor": actor}
        )

    async def analytics(request: Request) -> Response:
        sensor = request.path_params["sensor"]
        limit = _int(request, "limit", 50, 1, 1000)
        rows = await storage.analytics(sensor, limit)
        for row in rows:
            row["time"] = format_time(row["time"]) if row["time"] is not None else None
        return _json({"sensor": sensor, "events": rows})

    async def stream(request: Request) -> Response:
        last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        return StreamingResponse(
            services.hub.follow(last, services.settings.sse_keepalive),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return [
        Route("/api/v1/gateways", guarded("viewer", gateways)),
        Route("/api/v1/sensors", guarded("viewer", sensors)),
        Route("/api/v1/sensors/{sensor}/readings", guarded("viewer", readings)),
        Route("/api/v1/alarms", guarded("viewer", alarms)),
        Route("/api/v1/alarms/{alarm_id}/ack", guarded("operator", ack), methods=["POST"]),
        Route("/api/v1/sensors/{sensor}/analytics", guarded("viewer", analytics)),
        Route("/api/v1/stream", guarded("viewer", stream)),
    ]


def _status(row: dict[str, Any], now: float) -> str:
    """alarm > offline > analytics status (warning, critical, stale) > normal."""
    if row["active_alarms"]:
        return "alarm"
    if row["last_time"] is None:
        return "unknown"
    offline = row["alarms"].get("offline") if isinstance(row["alarms"], dict) else None
    after = offline.get("after_s") if isinstance(offline, dict) else None
    if isinstance(after, int | float) and now - row["last_time"] > after:
        return "offline"
    if row["analytics_status"] in ("warning", "critical", "stale"):
        return str(row["analytics_status"])
    return "normal"


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


def _unavailable() -> Response:
    return _json({"error": "database unavailable, retry later"}, 503, {"Retry-After": "5"})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
