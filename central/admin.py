"""Admin API: people (`/api/v1/users`) and gateway tokens (`/api/v1/tokens`); role admin.

    GET   /api/v1/users                 -> {"users": [{name, role, created, updated, disabled}]}
    POST  /api/v1/users                 {"name", "role", "password"} -> 201 | 409 exists
    PATCH /api/v1/users/{name}          {"role"?, "password"?, "disabled"?} -> 200 | 404
    POST  /api/v1/tokens                {"gateway", "analytics"?} -> 201 {"source", "token"}

Every change is audited with old and new value (never a password or a secret). Admins
cannot demote or disable themselves, so a signed-in admin cannot lock everyone out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access
from central.auth import ROLES, TOKEN_PREFIX, digest, gateway_source, new_secret
from central.passwords import PasswordRejected, check_name, hash_password_async
from runtime.events import format_time

if TYPE_CHECKING:
    from central.app import Services

log = logging.getLogger("tracseq.central.admin")
_GATEWAY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class _Bad(Exception):
    pass


def routes(services: Services) -> list[Route]:
    storage = services.storage

    def admin(handler: Callable[[Request, str], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            identity = await access.check(services, request, "admin")
            if isinstance(identity, Response):
                return identity
            try:
                return await handler(request, access.actor(identity.principal))
            except _Bad as exc:
                return access.error(400, str(exc))
            except PasswordRejected as exc:
                return access.error(400, str(exc))
            except Exception:
                log.exception("admin request %s failed", request.url.path)
                return access.error(503, "database unavailable, retry later", {"Retry-After": "5"})

        return endpoint

    async def users(request: Request, actor: str) -> Response:
        if request.method == "GET":
            rows = await storage.users()
            for row in rows:
                for key in ("created", "updated", "disabled"):
                    if row[key] is not None:
                        row[key] = format_time(row[key])
            return _json({"users": rows})
        body = await _body(request)
        name, role, password = body.get("name"), body.get("role"), body.get("password")
        if not isinstance(name, str):
            raise _Bad("name: required")
        check_name(name)
        if role not in ROLES:
            raise _Bad(f"role: one of {', '.join(ROLES)}")
        if not isinstance(password, str):
            raise _Bad("password: required")
        hashed = await hash_password_async(password)
        if not await storage.create_user(name, role, hashed, actor):
            return access.error(409, f"a user named {name!r} exists already")
        return _json({"name": name, "role": role}, 201)

    async def user(request: Request, actor: str) -> Response:
        name = request.path_params["name"]
        body = await _body(request)
        changes: dict[str, Any] = {}
        if "role" in body:
            if services.settings.require_signatures:
                raise _Bad(f"a role change must be signed here: POST /api/v1/users/{name}/role")
            if body["role"] not in ROLES:
                raise _Bad(f"role: one of {', '.join(ROLES)}")
            changes["role"] = body["role"]
        if "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise _Bad("disabled: true or false")
            changes["disabled"] = body["disabled"]
        if "password" in body:
            if not isinstance(body["password"], str):
                raise _Bad("password: a string")
            changes["password_hash"] = await hash_password_async(body["password"])
        if not changes:
            raise _Bad("nothing to change: send role, password and/or disabled")
        demoting = changes.get("role", "admin") != "admin" or changes.get("disabled") is True
        if actor == f"user:{name}" and demoting:
            raise _Bad("you cannot demote or disable yourself; ask another admin")
        result = await storage.update_user(name, actor, **changes)
        if result is None:
            return access.error(404, f"no user {name!r}")
        return _json(result)

    async def tokens(request: Request, actor: str) -> Response:
        body = await _body(request)
        gateway, analytics = body.get("gateway"), body.get("analytics", False)
        if not isinstance(gateway, str) or not _GATEWAY.fullmatch(gateway):
            raise _Bad("gateway: letters, digits, '.', '_', '-'; at most 128")
        if not isinstance(analytics, bool):
            raise _Bad("analytics: true or false")
        secret = new_secret(TOKEN_PREFIX)
        source = gateway_source(gateway, analytics=analytics)
        await storage.add_token(digest(secret), source, actor)
        return _json({"source": source, "token": secret}, 201)

    return [
        Route("/api/v1/users", admin(users), methods=["GET", "POST"]),
        Route("/api/v1/users/{name}", admin(user), methods=["PATCH"]),
        Route("/api/v1/tokens", admin(tokens), methods=["POST"]),
    ]


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _Bad(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _Bad("body must be a JSON object")
    return body


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
