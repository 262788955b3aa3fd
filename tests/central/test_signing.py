"""The signing key signs exactly what it was given, and a bad key file is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.signing import load_key, sign, verify
from runtime.errors import ConfigError


def test_a_signature_holds_only_for_the_same_bytes_and_key(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(b"k" * 32)
    key = load_key(key_file)
    signature = sign(key, b'{"rows": 12, "head": "ab"}')
    assert signature.startswith("hmac-sha256:")
    assert verify(key, b'{"rows": 12, "head": "ab"}', signature)
    assert not verify(key, b'{"rows": 11, "head": "ab"}', signature)
    assert not verify(b"x" * 32, b'{"rows": 12, "head": "ab"}', signature)


def test_a_short_or_missing_key_names_the_file(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    with pytest.raises(ConfigError, match=r"short\.key: the signing key must hold at least 16"):
        load_key(short)
    with pytest.raises(ConfigError, match=r"missing\.key: cannot read the signing key"):
        load_key(tmp_path / "missing.key")
