"""Signed actions (central/signatures.py) over HTTP; people signed in on the dashboard only.

    POST /api/v1/alarms/{alarm_id}/signed-ack   operator  {"signature": {...}, "comment"?}
    POST /api/v1/users/{name}/role              admin     {"role", "signature": {...}}
    GET  /api/v1/signatures?record_type=&record_id=   viewer
    GET  /api/v1/signatures/verify                    viewer

`signature` is `{"username"?, "password", "meaning", "reason"}` (user name on the first
signing of a session). The plain `POST /api/v1/alarms/{alarm_id}/ack` stays for tools that
do not need Part 11 (an API key may use it); `central --require-signatures` answers it 403
so every acknowledgement is signed, and refuses role changes through `PATCH /api/v1/users`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access, signatures
from central.auth import ROLES
from central.body import BodyError, read_body
from central.storage import people, write

if TYPE_CHECKING:
    from central.app import Services

log = logging.getLogger("tracseq.central.signatures")
MAX_BODY = 64 * 1024


async def json_body(request: Request, limit: int = MAX_BODY) -> dict[str, Any] | Response:
    try:
        body = orjson.loads(await read_body(request, limit))
    except BodyError as exc:
        return access.error(exc.status, str(exc))
    except orjson.JSONDecodeError as exc:
        return access.error(400, f"body is not JSON: {exc}")
    if not isinstance(body, dict):
        return access.error(400, "body must be a JSON object")
    return body


def routes(services: Services) -> list[Route]:
    storage = services.storage

    async def signed_ack(request: Request) -> Response:
        identity = await access.check(services, request, "operator")
        if isinstance(identity, Response):
            return identity
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        sig = signatures.parse_input(body)
        if isinstance(sig, Response):
            return sig
        comment = body.get("comment") or sig.reason
        if not isinstance(comment, str) or len(comment) > 4000:
            return access.error(400, "comment: a string of at most 4000 characters")
        signer = await signatures.authenticate(services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        alarm_id = request.path_params["alarm_id"]
        actor = access.actor(identity.principal)
        now = services.clock()

        def store(conn: Any, d: Any) -> dict[str, Any] | None:
            with d.transaction(conn):
                ack_id = write.ack(conn, d, alarm_id, signer.name, comment, actor, now)
                if ack_id is None:
                    return None
                new = {"ack_id": ack_id, "by": signer.name, "comment": comment, "signed": True}
                people.append_audit(conn, d, now, actor, "alarm.ack", alarm_id, None, new)
                content = signatures.ack_content(ack_id, alarm_id, signer.name, comment, now)
                signed = signatures.record(
                    conn, d, now, signer, sig, "alarm_ack", str(ack_id), content
                )
            return {"id": ack_id, "alarm_id": alarm_id, "by": signer.name, "comment": comment,
                    "actor": actor, "signature": signatures.to_json(signed)}  # fmt: skip

        try:
            result = await storage.write_with(store)
        except Exception:
            log.exception("signed acknowledgement of %s failed", alarm_id)
            return access.error(503, "database unavailable, retry later", {"Retry-After": "5"})
        if result is None:
            return access.error(404, f"no alarm {alarm_id!r}")
        return _json(result)

    async def signed_role(request: Request) -> Response:
        identity = await access.check(services, request, "admin")
        if isinstance(identity, Response):
            return identity
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        role = body.get("role")
        if role not in ROLES:
            return access.error(400, f"role: one of {', '.join(ROLES)}")
        sig = signatures.parse_input(body)
        if isinstance(sig, Response):
            return sig
        name = request.path_params["name"]
        actor = access.actor(identity.principal)
        signer = await signatures.authenticate(services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        if actor == f"user:{name}" and role != "admin":
            return access.error(400, "you cannot demote yourself; ask another admin")
        now = services.clock()

        def store(conn: Any, d: Any) -> dict[str, Any] | None:
            with d.transaction(conn):
                row = d.one(conn, "SELECT role FROM users WHERE name = ?", (name,))
                if row is None:
                    return None
                people.update_user(conn, d, name, now, actor, role=role)
                content = {"user": name, "old_role": str(row[0]), "new_role": role}
                signed = signatures.record(conn, d, now, signer, sig, "user_role", name, content)
            return {"name": name, "role": role, "signature": signatures.to_json(signed)}

        try:
            result = await storage.write_with(store)
        except Exception:
            log.exception("signed role change of %s failed", name)
            return access.error(503, "database unavailable, retry later", {"Retry-After": "5"})
        if result is None:
            return access.error(404, f"no user {name!r}")
        return _json(result)

    async def listing(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        kind = request.query_params.get("record_type", "")
        record_id = request.query_params.get("record_id", "")
        if kind not in signatures.RECORD_TYPES or not record_id:
            return access.error(
                400, f"record_type ({', '.join(signatures.RECORD_TYPES)}) and record_id: required"
            )
        found = await storage.read_with(
            lambda conn, d: signatures.of_records(conn, d, kind, [record_id])
        )
        return _json({"signatures": [signatures.to_json(s) for s in found.get(record_id, [])]})

    async def verify(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        return _json(await storage.read_with(signatures.verify))

    async def refuse_plain_ack(request: Request) -> Response:
        identity = await access.check(services, request, "operator")
        if isinstance(identity, Response):
            return identity
        alarm_id = request.path_params["alarm_id"]
        return access.error(
            403,
            "this central requires signed acknowledgements (--require-signatures): sign in and "
            f"POST /api/v1/alarms/{alarm_id}/signed-ack",
        )

    out = [
        Route("/api/v1/alarms/{alarm_id}/signed-ack", signed_ack, methods=["POST"]),
        Route("/api/v1/users/{name}/role", signed_role, methods=["POST"]),
        Route("/api/v1/signatures", listing),
        Route("/api/v1/signatures/verify", verify),
    ]
    if services.settings.require_signatures:  # listed before the query API's plain ack
        out.append(Route("/api/v1/alarms/{alarm_id}/ack", refuse_plain_ack, methods=["POST"]))
    return out


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
