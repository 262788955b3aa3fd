"""Admin API: people (`/api/v1/users`) and gateway tokens (`/api/v1/tokens`); role admin.

    GET   /api/v1/users                 -> {"users": [{name, role, email, phone, created,
                                            updated, disabled}]}
    POST  /api/v1/users                 {"name", "role", "password", "email"?, "phone"?}
                                        -> 201 | 409 exists
    PATCH /api/v1/users/{name}          {"role"?, "password"?, "disabled"?, "email"?, "phone"?}
                                        -> 200 | 404 (email/phone null or "" clears it)
    POST  /api/v1/tokens                {"gateway", "analytics"?} -> 201 {"source", "token"}

Bodies are read through central/body.py (64 KiB at most, else 413) into the request models
of central/schemas.py (a 400 names the field). Every change is audited with old and new
value (never a password or a secret). Admins cannot demote or disable themselves, so a
signed-in admin cannot lock everyone out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access
from central.auth import TOKEN_PREFIX, digest, gateway_source, new_secret
from central.body import read_model
from central.passwords import PasswordRejected, hash_password_async
from central.schemas import TokenCreate, UserCreate, UserUpdate
from central.services import Services
from runtime.events import format_time

log = logging.getLogger("tracseq.central.admin")


def routes(services: Services) -> list[Route]:
    api = Admin(services)
    return [
        Route("/api/v1/users", api.admin(api.users), methods=["GET", "POST"]),
        Route("/api/v1/users/{name}", api.admin(api.user), methods=["PATCH"]),
        Route("/api/v1/tokens", api.admin(api.tokens), methods=["POST"]),
    ]


class Admin:
    """The admin API's handlers; `admin` puts the role check around one."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.storage = services.storage

    def admin(self, handler: Callable[[Request, str], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            identity = await access.check(self.services, request, "admin")
            if isinstance(identity, Response):
                return identity
            try:
                return await handler(request, access.actor(identity.principal))
            except PasswordRejected as exc:
                return access.error(400, str(exc))

        return endpoint

    async def users(self, request: Request, actor: str) -> Response:
        if request.method == "GET":
            rows = await self.storage.users()
            for row in rows:
                for key in ("created", "updated", "disabled"):
                    if row[key] is not None:
                        row[key] = format_time(row[key])
            return _json({"users": rows})
        body = await read_model(request, UserCreate)
        hashed = await hash_password_async(body.password, body.name)
        contact = {"email": body.email, "phone": body.phone}
        if not await self.storage.create_user(body.name, body.role, hashed, actor, **contact):
            return access.error(409, f"a user named {body.name!r} exists already")
        return _json({"name": body.name, "role": body.role, **contact}, 201)

    async def user(self, request: Request, actor: str) -> Response:
        name = request.path_params["name"]
        changes = (await read_model(request, UserUpdate)).changes()
        if "role" in changes and self.services.settings.require_signatures:
            return access.error(
                400, f"role: a role change must be signed here: POST /api/v1/users/{name}/role"
            )
        if "password" in changes:
            changes["password_hash"] = await hash_password_async(changes.pop("password"), name)
        if not changes:
            return access.error(
                400, "nothing to change: send role, password, disabled, email and/or phone"
            )
        demoting = changes.get("role", "admin") != "admin" or changes.get("disabled") is True
        if actor == f"user:{name}" and demoting:
            return access.error(400, "you cannot demote or disable yourself; ask another admin")
        result = await self.storage.update_user(name, actor, **changes)
        if result is None:
            return access.error(404, f"no user {name!r}")
        return _json(result)

    async def tokens(self, request: Request, actor: str) -> Response:
        body = await read_model(request, TokenCreate)
        secret = new_secret(TOKEN_PREFIX)
        source = gateway_source(body.gateway, analytics=body.analytics)
        await self.storage.add_token(digest(secret), source, actor)
        return _json({"source": source, "token": secret}, 201)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
