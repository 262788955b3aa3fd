"""Acknowledging alarms: one alarm, or a sensor's active alarms with one comment.

`POST /api/v1/alarms/{alarm_id}/ack` (contract) and `POST /api/v1/sensors/{sensor}/ack`
(one failing freezer is one acknowledgement, not one per rule) both take
`{"by", "comment"}`; the sensor route also `"alarm_ids"` (which of the sensor's alarms;
default: its active alarms nobody acknowledged yet). A signed-in person always
acknowledges in their own name. Each acknowledgement is stored with its audit row in one
transaction and then announced on the live stream as `org.tracseq.alarm.acknowledged`
(data `alarm_id, by, comment, actor, at`), so every open dashboard shows it at once.
A signed acknowledgement (central/signature_api.py) goes the same way through
`store_signed`, its signature stored in the same transaction and shown in the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from central import access
from central.body import read_json, validate
from central.schemas import AckRequest, SensorAckRequest
from central.services import Services
from central.storage import people
from central.storage.dialect import Dialect
from runtime.events import ALARM_ACKNOWLEDGED, CloudEvent, format_time

SOURCE = "tracseq-central"


@dataclass(frozen=True, slots=True)
class AckBody:
    by: str
    comment: str
    alarm_ids: list[str] | None


async def alarm(services: Services, request: Request) -> Response:
    """Acknowledge one alarm: the contract's route."""
    body = await _body(request, with_ids=False)
    alarm_id = request.path_params["alarm_id"]
    stored = await _store(services, request, [alarm_id], body)
    if stored is None:
        return access.error(404, f"no alarm {alarm_id!r}")
    return _json(stored[0])


async def sensor(services: Services, request: Request) -> Response:
    """Acknowledge a sensor's alarms with one comment (all or none)."""
    body = await _body(request, with_ids=True)
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
    """The bounded, validated body (BodyError -> 400/413 from the app's handler)."""
    body = await read_json(request)
    if request.state.principal.kind == "user" and isinstance(body, dict):
        body["by"] = request.state.principal.name  # a person acknowledges in their own name
    if with_ids:
        sent = validate(SensorAckRequest, body)
        return AckBody(sent.by.strip(), sent.comment.strip(), sent.alarm_ids)
    one = validate(AckRequest, body)
    return AckBody(one.by.strip(), one.comment.strip(), None)


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


# Signs a stored acknowledgement inside its transaction: (conn, dialect, ack id, alarm id,
# time) -> the signature as shown (central/signatures.py); raising rolls it back.
Sign = Callable[[Any, Dialect, int, str, float], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Unsignable:
    """Why a group's acknowledgement was not signed at all: the first alarm that could not
    be (it does not exist, or is another sensor's)."""

    alarm_id: str
    why: str


async def store_signed_group(
    services: Services,
    actor: str,
    subject: str,
    alarm_ids: list[str],
    by: str,
    comment: str,
    sign: Sign,
) -> list[dict[str, Any]] | Unsignable:
    """Acknowledge and sign each of a sensor's alarms in ONE transaction: every alarm gets
    its acknowledgement and its own signature (linked to that acknowledgement), or none
    does. Announced like any other acknowledgement, after the commit."""
    now = services.clock()
    ids = list(dict.fromkeys(alarm_ids))

    def store(conn: Any, d: Dialect) -> list[tuple[int, str, dict[str, Any]]] | Unsignable:
        with d.transaction(conn):
            among, params = d.one_of("alarm_id", ids)
            found = dict(d.all(conn, f"SELECT alarm_id, subject FROM alarms WHERE {among}", params))
            for alarm_id in ids:
                if alarm_id not in found:
                    return Unsignable(alarm_id, "no such alarm")
                if found[alarm_id] != subject:
                    return Unsignable(alarm_id, f"an alarm of {found[alarm_id]!r}, not {subject!r}")
            stored = people.ack_all(conn, d, ids, by, comment, actor, now, subject)
            assert stored is not None  # existence was checked in this transaction
            return [(ack_id, alarm_id, sign(conn, d, ack_id, alarm_id, now))
                    for ack_id, alarm_id, _ in stored]  # fmt: skip

    result = await services.storage.run_write(store)
    if isinstance(result, Unsignable):
        return result
    out = [
        _signed(ack_id, alarm_id, by, comment, actor, now, signature)
        for ack_id, alarm_id, signature in result
    ]
    services.hub.publish(acknowledged_event(ack, subject, now) for ack in out)
    return out


def _signed(
    ack_id: int, alarm_id: str, by: str, comment: str, actor: str, at: float, signature: Any
) -> dict[str, Any]:
    return {
        "id": ack_id,
        "alarm_id": alarm_id,
        "by": by,
        "comment": comment,
        "actor": actor,
        "at": format_time(at),
        "signature": signature,
    }


async def store_signed(
    services: Services, actor: str, alarm_id: str, by: str, comment: str, sign: Sign
) -> dict[str, Any] | None:
    """Store one acknowledgement and its signature in one transaction, then announce it
    like any other (with its `signature`); None when the alarm does not exist."""
    now = services.clock()

    def store(conn: Any, d: Dialect) -> tuple[int, str | None, dict[str, Any]] | None:
        with d.transaction(conn):
            stored = people.ack_all(conn, d, [alarm_id], by, comment, actor, now)
            if stored is None:
                return None
            ack_id, _, subject = stored[0]
            return ack_id, subject, sign(conn, d, ack_id, alarm_id, now)

    result = await services.storage.run_write(store)
    if result is None:
        return None
    ack_id, subject, signature = result
    ack = _signed(ack_id, alarm_id, by, comment, actor, now, signature)
    services.hub.publish([acknowledged_event(ack, subject, now)])
    return ack


def acknowledged_event(ack: dict[str, Any], subject: str | None, at: float) -> dict[str, Any]:
    """The live stream's `org.tracseq.alarm.acknowledged` event for one stored ack."""
    return CloudEvent(
        id=f"ack:{ack['id']}",
        source=SOURCE,
        type=ALARM_ACKNOWLEDGED,
        time=at,
        subject=subject,
        data={k: ack[k] for k in ("alarm_id", "by", "comment", "actor", "at")}
        | {"id": ack["id"]}
        | ({"signature": ack["signature"]} if ack.get("signature") else {}),
    ).to_dict()


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), 200, media_type="application/json")
