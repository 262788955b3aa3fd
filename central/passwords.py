"""Passwords and user names: argon2id hashes (argon2-cffi, RFC 9106 low-memory profile).

Verifying costs ~50-250 ms of CPU on purpose; it runs off the event loop. An unknown user
name is checked against a dummy hash, so the answer takes as long as for a real user and
does not reveal which names exist.
"""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '.', '_', '@', '-', starting with a letter or digit"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a real password, only for timing")


class PasswordRejected(ValueError):
    """A password (or user name) that does not meet the rules; the message says which."""


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise PasswordRejected(f"invalid user name {name!r} ({NAME_RULE})")


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"password: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"password: at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        _hasher.verify(stored or _DUMMY, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored` (None: unknown user, always False)."""
    return await asyncio.to_thread(_verify, stored, password)


async def hash_password_async(password: str) -> str:
    check_password(password)
    return await asyncio.to_thread(_hasher.hash, password)
