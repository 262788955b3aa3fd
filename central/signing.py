"""Signing with a key kept outside the database: audit checkpoints and archive manifests.

The key is a file (`central --audit-key FILE`, created 0600 by whoever installs central,
e.g. `head -c 32 /dev/urandom > /etc/tracseq/audit.key`). Whoever can write the database
but not read this file cannot forge a checkpoint or a manifest: HMAC-SHA256 over the
exact bytes signed, written as `hmac-sha256:<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from runtime.errors import ConfigError, ConfigIssue

PREFIX = "hmac-sha256:"
MIN_KEY_BYTES = 16


def load_key(path: Path) -> bytes:
    """The key's bytes; a missing, unreadable or too short file is a ConfigError."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(str(path), None, None, "", f"cannot read the signing key: {exc}")]
        ) from None
    key = key.strip()
    if len(key) < MIN_KEY_BYTES:
        message = f"the signing key must hold at least {MIN_KEY_BYTES} bytes"
        raise ConfigError([ConfigIssue(str(path), None, None, "", message)])
    return key


def sign(key: bytes, payload: bytes) -> str:
    """The signature of `payload`: `hmac-sha256:<hex>`."""
    return PREFIX + hmac.new(key, payload, hashlib.sha256).hexdigest()


def verify(key: bytes, payload: bytes, signature: str) -> bool:
    """True when `signature` was made with `key` over exactly `payload`."""
    return hmac.compare_digest(sign(key, payload), signature)
