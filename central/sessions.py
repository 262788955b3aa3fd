"""Signing in and out: `POST/GET/DELETE /api/v1/session` (contract: "People and permissions").

`POST {"username", "password"}` answers 200 `{"csrf_token", "username", "role"}` and sets
the session cookie (HttpOnly, SameSite=Lax, Secure on https, Path=/, 12 h), 401 for a wrong
name or password (the same answer and about the same time for both), 429 + Retry-After
when rate-limited (central/ratelimit.py), 415 unless the body is JSON (a cross-site HTML
form cannot send JSON), 413 over 64 KiB (central/body.py). The cookie is 32 random bytes;
only its SHA-256 is stored. Every sign-in, failed attempt and sign-out is in the audit trail.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access
from central.body import read_model
from central.passwords import verify_password
from central.schemas import LoginRequest
from central.services import Services

log = logging.getLogger("tracseq.central.sessions")

SESSION_SECONDS = 12 * 3600.0


def routes(services: Services) -> list[Route]:
    return [Route("/api/v1/session", Sessions(services).session, methods=["GET", "POST", "DELETE"])]


class Sessions:
    """The handlers of /api/v1/session."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def sign_in(self, request: Request) -> Response:
        services, storage, limiter = self.services, self.services.storage, self.services.limiter
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return access.error(415, 'send JSON: {"username": ..., "password": ...}')
        body = await read_model(request, LoginRequest)
        name, password = body.username, body.password
        remote = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(name, remote)
        if wait:
            return access.error(
                429, f"too many failed sign-ins; retry in {wait} s", {"Retry-After": str(wait)}
            )
        found = await storage.credentials(name)
        ok = await verify_password(found[1] if found else None, password)
        if not ok:
            limiter.failed(name, remote)
            await storage.failed_login(name, remote)
            log.warning("failed sign-in for %r from %s", name, remote)
            return access.error(401, "wrong user name or password")
        assert found is not None
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = services.clock() + SESSION_SECONDS
        await storage.create_session(access.session_digest(cookie), name, csrf, expires, remote)
        limiter.succeeded(name)
        response = _json({"csrf_token": csrf, "username": name, "role": found[0]})
        response.set_cookie(
            access.COOKIE,
            cookie,
            max_age=int(SESSION_SECONDS),
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def who(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        p = identity.principal
        return _json({"username": p.name, "role": p.role, "csrf_token": identity.csrf_token})

    async def sign_out(self, request: Request) -> Response:
        identity = await access.check(self.services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        if identity.session_hash is None:
            return access.error(400, "not signed in with a session (API keys have none)")
        await self.services.storage.end_session(identity.session_hash, identity.principal.name)
        response = _json({"signed_out": identity.principal.name})
        response.delete_cookie(access.COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def session(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.sign_in(request)
        if request.method == "DELETE":
            return await self.sign_out(request)
        return await self.who(request)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
