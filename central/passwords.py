"""Passwords and user names: argon2id hashes (argon2-cffi, RFC 9106 low-memory profile).

Verifying costs ~50-250 ms of CPU on purpose; it runs off the event loop. An unknown user
name is checked against a dummy hash, so the answer takes as long as for a real user and
does not reveal which names exist. A new password must be at least 10 characters and not
easy to guess (`check_password`: common, sequential, repeated or the user's own name).
Hashing (and that check) runs off the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 10
MAX_LENGTH = 1024
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])  # 30,000 most common, from real leaks
_UNLEET = str.maketrans("4@8(3!1|0$5+7", "aabceiiiosstt")
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")  # digits and symbols around a word
_REPEAT = re.compile(r"(.+?)\1+", re.S)
_ROWS = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = frozenset(
    pair for row in _ROWS for a, b in itertools.pairwise(row) for pair in ((a, b), (b, a))
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '.', '_', '@', '-', starting with a letter or digit"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a real password, only for timing")


class PasswordRejected(ValueError):
    """A password (or user name) that does not meet the rules; the message says which."""


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise PasswordRejected(f"invalid user name {name!r} ({NAME_RULE})")


def check_password(password: str, name: str | None = None) -> None:
    """Refuse a password that is too short or too long, or easy to guess: one of the 30,000
    most common passwords of real leaks (zxcvbn's list), also with l33t letters or digits
    and symbols around it (`Summer2024!`, `p@ssw0rd1`); letters in sequence or along a
    keyboard row (`abcdefghij`, `0123456789abc`, `qwertyuiop`); a repeat
    (`passwordpassword`); or the user's name with a few characters added. Linear in the
    length (zxcvbn's own estimator took seconds on some 20-character inputs)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"password: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"password: at most {MAX_LENGTH} characters")
    why = _guessable(password, name)
    if why is not None:
        raise PasswordRejected(f"password: too easy to guess ({why}); use a few unrelated words")


def _guessable(password: str, name: str | None) -> str | None:
    lower = password.lower()
    plain = lower.translate(_UNLEET)
    stem = _AROUND.sub("", lower)  # the word inside digits and symbols: summer2024! -> summer
    if {lower, plain, stem, stem.translate(_UNLEET)} & _COMMON:
        return "a common password"
    if _REPEAT.fullmatch(lower) or len(set(lower)) < 4:
        return "a repeat"
    if _runs(lower) <= 2:
        return "letters in sequence or along the keyboard"
    if name and len(name) >= 3 and len(plain.replace(name.lower(), "")) < 6:
        return "the user name with a few characters added"
    return None


def _runs(text: str) -> int:
    """Pieces of `text` in which each character repeats or neighbours the one before in
    the alphabet, the digits or a keyboard row."""
    runs = 1
    for a, b in itertools.pairwise(text):
        if a != b and (a, b) not in _NEIGHBOURS:
            runs += 1
    return runs


def hash_password(password: str, name: str | None = None) -> str:
    check_password(password, name)
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


async def hash_password_async(password: str, name: str | None = None) -> str:
    return await asyncio.to_thread(hash_password, password, name)
