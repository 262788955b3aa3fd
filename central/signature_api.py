"""Signed actions (central/signatures.py) over HTTP; people signed in on the dashboard only.

    POST /api/v1/alarms/{alarm_id}/signed-ack   operator  {"signature": {...}, "comment"?}
    POST /api/v1/sensors/{sensor}/signed-ack    operator  {"signature", "comment"?, "alarm_ids"?}
    POST /api/v1/users/{name}/role              admin     {"role", "signature": {...}}
    GET  /api/v1/signatures?record_type=&record_id=   viewer
    GET  /api/v1/signatures/verify                    viewer

`signature` is `{"username"?, "password", "meaning", "reason"}` (user name on the first
signing of a session); bodies are read through central/body.py into the request models of
central/schemas.py. A signed acknowledgement is stored and announced like a plain one
(central/acks.py), its signature in the same transaction. The plain
`POST /api/v1/alarms/{alarm_id}/ack` stays for tools that do not need Part 11 (an API key
may use it); `central --require-signatures` answers it 403 so every acknowledgement is
signed, and refuses role changes through `PATCH /api/v1/users`. A sensor's alarms are
signed all in one transaction (one signature per acknowledgement) or not at all: 404
naming the first alarm that could not be (none, or another sensor's).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access, acks, signatures
from central.body import read_model
from central.schemas import SignatureInput, SignedAck, SignedRoleChange, SignedSensorAck
from central.services import Services
from central.storage import people
from central.storage.dialect import Dialect


def routes(services: Services) -> list[Route]:
    api = SignatureApi(services)
    out = [
        Route("/api/v1/alarms/{alarm_id}/signed-ack", api.signed_ack, methods=["POST"]),
        Route("/api/v1/sensors/{sensor}/signed-ack", api.signed_sensor_ack, methods=["POST"]),
        Route("/api/v1/users/{name}/role", api.signed_role, methods=["POST"]),
        Route("/api/v1/signatures", api.listing),
        Route("/api/v1/signatures/verify", api.verify),
    ]
    if services.settings.require_signatures:  # listed before the query API's plain ack
        out.append(Route("/api/v1/alarms/{alarm_id}/ack", api.refuse_plain_ack, methods=["POST"]))
        out.append(Route("/api/v1/sensors/{sensor}/ack", api.refuse_plain_ack, methods=["POST"]))
    return out


class SignatureApi:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.storage = services.storage

    async def signed_ack(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "operator")
        if isinstance(identity, Response):
            return identity
        body = await read_model(request, SignedAck)
        sig = body.signature
        comment = body.comment or sig.reason
        signer = await signatures.authenticate(self.services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        alarm_id = request.path_params["alarm_id"]
        sign = _ack_signer(signer, sig, comment)
        actor = access.actor(identity.principal)
        stored = await acks.store_signed(self.services, actor, alarm_id, signer.name, comment, sign)
        if stored is None:
            return access.error(404, f"no alarm {alarm_id!r}")
        return _json(stored)

    async def signed_sensor_ack(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "operator")
        if isinstance(identity, Response):
            return identity
        body = await read_model(request, SignedSensorAck)
        sig = body.signature
        comment = body.comment or sig.reason
        subject = request.path_params["sensor"]
        ids = body.alarm_ids
        if ids is None:
            active = await self.storage.alarms(True, 10_000)
            ids = [a["alarm_id"] for a in active if a["subject"] == subject and not a["acks"]]
            if not ids:
                return access.error(
                    409, f"sensor {subject!r} has no active alarm waiting for an acknowledgement"
                )
        signer = await signatures.authenticate(self.services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        sign = _ack_signer(signer, sig, comment)
        actor = access.actor(identity.principal)
        stored = await acks.store_signed_group(
            self.services, actor, subject, ids, signer.name, comment, sign
        )
        if isinstance(stored, acks.Unsignable):
            return access.error(
                404,
                f"alarm {stored.alarm_id!r} cannot be signed ({stored.why}); "
                "no alarm of the group was acknowledged",
            )
        return _json({"sensor": subject, "acks": stored})

    async def signed_role(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "admin")
        if isinstance(identity, Response):
            return identity
        body = await read_model(request, SignedRoleChange)
        name = request.path_params["name"]
        actor = access.actor(identity.principal)
        signer = await signatures.authenticate(self.services, request, identity, body.signature)
        if isinstance(signer, Response):
            return signer
        if actor == f"user:{name}" and body.role != "admin":
            return access.error(400, "you cannot demote yourself; ask another admin")
        now = self.services.clock()

        def store(conn: Any, d: Dialect) -> dict[str, Any] | None:
            with d.transaction(conn):
                row = d.one(conn, "SELECT role FROM users WHERE name = ?", (name,))
                if row is None:
                    return None
                people.update_user(conn, d, name, now, actor, role=body.role)
                content = {"user": name, "old_role": str(row[0]), "new_role": body.role}
                signed = signatures.record(
                    conn, d, now, signer, body.signature, "user_role", name, content
                )
            return {"name": name, "role": body.role, "signature": signatures.to_json(signed)}

        result = await self.storage.run_write(store)
        if result is None:
            return access.error(404, f"no user {name!r}")
        return _json(result)

    async def listing(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        kind = request.query_params.get("record_type", "")
        record_id = request.query_params.get("record_id", "")
        if kind not in signatures.RECORD_TYPES or not record_id:
            return access.error(
                400, f"record_type ({', '.join(signatures.RECORD_TYPES)}) and record_id: required"
            )
        found = await self.storage.run_read(
            lambda conn, d: signatures.of_records(conn, d, kind, [record_id])
        )
        return _json({"signatures": [signatures.to_json(s) for s in found.get(record_id, [])]})

    async def verify(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        return _json(await self.storage.run_read(signatures.verify))

    async def refuse_plain_ack(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "operator")
        if isinstance(identity, Response):
            return identity
        where = request.path_params.get("alarm_id")
        return access.error(
            403,
            "this central requires signed acknowledgements (--require-signatures): sign in and "
            f"POST /api/v1/alarms/{where or '{alarm_id}'}/signed-ack",
        )


def _ack_signer(signer: signatures.Signer, sig: SignatureInput, comment: str) -> acks.Sign:
    """Signs one stored acknowledgement (in its transaction) with the signer's signature."""

    def sign(conn: Any, d: Dialect, ack_id: int, alarm_id: str, now: float) -> dict[str, Any]:
        content = signatures.ack_content(ack_id, alarm_id, signer.name, comment, now)
        signed = signatures.record(conn, d, now, signer, sig, "alarm_ack", str(ack_id), content)
        return signatures.to_json(signed)

    return sign


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
