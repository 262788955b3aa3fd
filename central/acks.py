"""Acknowledging alarms: one alarm, or a sensor's active alarms with one comment.

`POST /api/v1/alarms/{alarm_id}/ack` (contract) and `POST /api/v1/sensors/{sensor}/ack`
(one failing freezer is one acknowledgement, not one per rule) both take
`{"by", "comment"}`; the sensor route also `"alarm_ids"` (which of the sensor's alarms;
default: its active alarms nobody acknowledged yet). A signed-in person always
acknowledges in their own name. Each acknowledgement is stored with its audit row in one
transaction and then announced on the live stream as `org.tracseq.alarm.acknowledged`
(data `alarm_id, by, comment, actor, at`), so every open dashboard shows it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from central import access
from runtime.events import ALARM_ACKNOWLEDGED, CloudEvent, format_time

if TYPE_CHECKING:
    from central.app import Services

SOURCE = "tracseq-central"
MAX_ALARMS = 100  # alarm ids in one sensor acknowledgement
# What does not count as text in `by`/`comment`: white space as Python (str.isspace) and
# JSON Schema's ECMA-262 regexes see it, so the OpenAPI pattern built from it
# (central/openapi.py) and this check agree on every string.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


@dataclass(frozen=True, slots=True)
class AckBody:
    by: str
    comment: str
    alarm_ids: list[str] | None


class Refused(Exception):
    """A request body that cannot be used; the message names the field."""


async def alarm(services: Services, request: Request) -> Response:
    """Acknowledge one alarm: the contract's route."""
    try:
        body = await _body(request, with_ids=False)
    except Refused as exc:
        return access.error(400, str(exc))
    alarm_id = request.path_params["alarm_id"]
    stored = await _store(services, request, [alarm_id], body)
    if stored is None:
        return access.error(404, f"no alarm {alarm_id!r}")
    return _json(stored[0])


async def sensor(services: Services, request: Request) -> Response:
    """Acknowledge a sensor's alarms with one comment (all or none)."""
    try:
        body = await _body(request, with_ids=True)
    except Refused as exc:
        return access.error(400, str(exc))
    subject = request.path_params["sensor"]
    ids = body.alarm_ids
    if ids is None:
        active = [a for a in await services.storage.alarms(True, 10_000) if a["subject"] == subject]
        ids = [a["alarm_id"] for a in active if not a["acks"]]
        if not ids:
            return access.error(
                409, f"sensor {subject!r} has no active alarm waiting for an acknowledgement"
            )
    stored = await _store(services, request, ids, body, subject)
    if stored is None:
        return access.error(404, f"alarm_ids: not all are alarms of sensor {subject!r}")
    return _json({"sensor": subject, "acks": stored})


async def _body(request: Request, *, with_ids: bool) -> AckBody:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Refused(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Refused('body must be {"by": ..., "comment": ...}')
    principal = request.state.principal
    if principal.kind == "user":  # a signed-in person acknowledges in their own name
        body["by"] = principal.name
    for name, most in (("by", 200), ("comment", 4000)):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip(BLANK):
            raise Refused(f"{name}: required, a non-empty string")
        if len(value) > most:
            raise Refused(f"{name}: at most {most} characters")
    ids = body.get("alarm_ids") if with_ids else None
    if ids is not None and (
        not isinstance(ids, list)
        or not 0 < len(ids) <= MAX_ALARMS
        or not all(isinstance(i, str) and i for i in ids)
    ):
        raise Refused(f"alarm_ids: a list of 1 to {MAX_ALARMS} alarm ids")
    return AckBody(body["by"].strip(), body["comment"].strip(), ids)


async def _store(
    services: Services,
    request: Request,
    alarm_ids: list[str],
    body: AckBody,
    subject: str | None = None,
) -> list[dict[str, Any]] | None:
    """Store the acknowledgements, then announce them (after the commit); None when an
    alarm does not exist (or is not `subject`'s)."""
    actor = access.actor(request.state.principal)
    result = await services.storage.ack_all(alarm_ids, body.by, body.comment, actor, subject)
    if result is None:
        return None
    at, stored = result
    acks = [
        {
            "id": ack_id,
            "alarm_id": alarm_id,
            "by": body.by,
            "comment": body.comment,
            "actor": actor,
            "at": format_time(at),
        }
        for ack_id, alarm_id, _ in stored
    ]
    services.hub.publish(
        acknowledged_event(ack, subject, at)
        for ack, (_, _, subject) in zip(acks, stored, strict=True)
    )
    return acks


def acknowledged_event(ack: dict[str, Any], subject: str | None, at: float) -> dict[str, Any]:
    """The live stream's `org.tracseq.alarm.acknowledged` event for one stored ack."""
    return CloudEvent(
        id=f"ack:{ack['id']}",
        source=SOURCE,
        type=ALARM_ACKNOWLEDGED,
        time=at,
        subject=subject,
        data={k: ack[k] for k in ("alarm_id", "by", "comment", "actor", "at")} | {"id": ack["id"]},
    ).to_dict()


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), 200, media_type="application/json")
