"""Users' contact details (`email`, `phone`): checked where they enter (API, CLI)."""

from __future__ import annotations

import re

# Written so Python and JSON Schema (ECMA-262) read them alike: the OpenAPI description
# (central/notify/openapi.py) uses the same patterns, "" meaning "clear it".
_ATOM = r'[^@\x00-\x20<>,;"\x7f]+'
EMAIL_PATTERN = rf"^{_ATOM}@{_ATOM}\.{_ATOM}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{2,30}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


def check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError(f"email: {value[:60]!r} is not an e-mail address (e.g. ada@lab.example)")
    return value


def check_phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(f"phone: {value[:40]!r} is not a phone number (e.g. +46 70 123 45 67)")
    return value
