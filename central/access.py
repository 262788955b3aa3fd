"""Who is asking, and may they? One check for every API endpoint and dashboard page.

A request is identified by `Authorization: Bearer <secret>` (gateway token or API key,
see central/auth.py) or, without one, by the session cookie a person gets by signing in.
A request that changes something (any method but GET/HEAD/OPTIONS) made with a session
cookie must also carry the session's CSRF token in `X-CSRF-Token`: a page on another site
can make the browser send the cookie, but cannot read the token. Bearer secrets are never
sent by a browser on its own, so they need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from central.auth import bearer, role_allows
from central.services import Services
from central.storage.records import Principal

log = logging.getLogger("tracseq.central.access")

COOKIE = "tracseq_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    csrf_token: str | None = None  # only for sessions
    session_hash: str | None = None


def session_digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


async def identify(services: Services, request: Request) -> Identity | None:
    """The bearer secret's principal, else the session's user, else None.

    Raises StorageUnavailable when the database cannot be asked (the app answers 503)."""
    if bearer(request) is not None:
        principal = await services.auth.resolve(request)
        return None if principal is None else Identity(principal)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    digest = session_digest(cookie)
    found = await services.storage.session(digest)
    if found is None:
        return None
    name, role, csrf = found
    return Identity(Principal("user", name, role=role), csrf, digest)


def csrf_ok(identity: Identity, request: Request) -> bool:
    if identity.principal.kind != "user" or request.method in SAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    return (
        bool(sent)
        and identity.csrf_token is not None
        and hmac.compare_digest(sent.encode(), identity.csrf_token.encode())
    )


async def check(services: Services, request: Request, role: str) -> Identity | Response:
    """The caller's identity when it may act with `role`, else the error response
    (401 unknown, 403 wrong kind/role or missing CSRF token)."""
    identity = await identify(services, request)
    if identity is None:
        return error(
            401,
            "sign in, or send an API key (Authorization: Bearer)",
            {"WWW-Authenticate": "Bearer"},
        )
    principal = identity.principal
    if principal.kind not in ("apikey", "user") or not role_allows(principal.role, role):
        return error(403, f"this needs role {role} or higher")
    if not csrf_ok(identity, request):
        return error(403, "missing or wrong X-CSRF-Token (the token your session handed out)")
    request.state.principal = principal
    request.state.identity = identity
    return identity


def actor(principal: Principal) -> str:
    """How the audit trail and acknowledgements name who acted."""
    return f"{'user' if principal.kind == 'user' else principal.kind}:{principal.name}"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"error": message}), status, headers, media_type="application/json"
    )
