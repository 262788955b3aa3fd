"""Gateway tokens and API keys: random 32-byte secrets, stored only as SHA-256 digests.

A secret is shown once when created. Requests carry it as `Authorization: Bearer <secret>`.
A gateway token may only ingest, and only events whose `source` is its own; an API key has
a role (`viewer` < `operator` < `admin`) and may only read (viewer) or also acknowledge
(operator and up). Lookups are cached for `CACHE_SECONDS` so a busy ingest does not hit the
database for every request; unknown secrets are not cached. So a secret revoked with
`tracseq-edge central token|apikey revoke` (another process) is refused at once where it
was not used in the last `CACHE_SECONDS`, and within `CACHE_SECONDS` everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from central.storage import SqlStorage
from central.storage.records import Principal
from runtime.events import ANALYTICS_SOURCE_PREFIX, EDGE_SOURCE_PREFIX

ROLES = ("viewer", "operator", "admin")
TOKEN_PREFIX = "tsg_"
API_KEY_PREFIX = "tsk_"
CACHE_SECONDS = 30.0  # a revoked secret works for at most this long where it was used


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def gateway_source(name: str, *, analytics: bool = False) -> str:
    return (ANALYTICS_SOURCE_PREFIX if analytics else EDGE_SOURCE_PREFIX) + name


def role_allows(role: str | None, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@dataclass(slots=True)
class _Cached:
    principal: Principal
    until: float


class Authenticator:
    """Resolves bearer secrets to principals, with a short positive cache."""

    def __init__(self, storage: SqlStorage, clock: Callable[[], float] = time.monotonic) -> None:
        self._storage = storage
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    async def resolve(self, request: Request) -> Principal | None:
        secret = bearer(request)
        if secret is None:
            return None
        key = digest(secret)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            return cached.principal
        found = await self._storage.principal(key)
        if found is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = _Cached(found, now + CACHE_SECONDS)
        return found
