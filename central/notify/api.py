"""The notifications API (contract: "Notifications (central)").

GET  /api/v1/notifications?alarm_id=&limit=   viewer -> {"notifications": [...]}
POST /api/v1/notifications/test               admin (CSRF) {"channel", "to": [...]}
     -> 200 {"id", "state", "error"} (502 when the channel refused it), audited
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access
from central.body import read_model
from central.notify import outbox
from central.notify.errors import SendError
from central.schemas import NotificationTest
from runtime.events import format_time

if TYPE_CHECKING:
    from central.services import Services

log = logging.getLogger("tracseq.central.notify")
MAX_LIMIT = 1000
_TIMES = ("created_at", "due_at", "sent_at")


def routes(services: Services) -> list[Route]:
    async def listing(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        alarm_id = request.query_params.get("alarm_id") or None
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return access.error(400, "limit: an integer from 1 to 1000")
        if not 1 <= limit <= MAX_LIMIT:
            return access.error(400, "limit: an integer from 1 to 1000")
        # A database that is down is a 503 by the app's handlers (central/exceptions.py).
        rows = await services.storage.run_read(
            partial(outbox.listing, alarm_id=alarm_id, limit=limit)
        )
        for row in rows:
            for key in _TIMES:
                if row[key] is not None:
                    row[key] = format_time(row[key])
        pending = [r for r in rows if r["state"] == "pending"]
        return _json({"notifications": rows, "pending": len(pending)})

    async def test(request: Request) -> Response:
        identity = await access.check(services, request, "admin")
        if isinstance(identity, Response):
            return identity
        body = await read_model(request, NotificationTest)  # 400/413 by the app's handlers
        channel, to = body.channel, list(body.to)
        actor = access.actor(identity.principal)
        notify = services.notify
        if notify is None or channel not in notify.holder.config.channels:
            return access.error(404, f"channel: no channel {channel!r} in the notifications file")
        try:
            outcome = await notify.sender.send_test(channel, to, actor)
            await services.storage.audit(
                actor,
                "notification.test",
                channel,
                None,
                {"to": to, "state": outcome.state, "error": outcome.error},
            )
        except SendError as exc:  # the channel went away in a reload meanwhile
            return access.error(404, str(exc))
        status = 200 if outcome.state == "sent" else 502
        return _json({"id": outcome.id, "state": outcome.state, "error": outcome.error}, status)

    return [
        Route("/api/v1/notifications", listing, methods=["GET"]),
        Route("/api/v1/notifications/test", test, methods=["POST"]),
    ]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
