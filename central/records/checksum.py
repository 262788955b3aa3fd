"""The SHA-256 file beside every backup (`sha256sum -c` reads it) and backup rotation."""

from __future__ import annotations

import hashlib
from pathlib import Path

from central.records.database import RecordsError

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path) -> str:
    """Write `FILE.sha256` in `sha256sum` format; returns the hex digest."""
    hexdigest = sha256_of(path)
    sidecar(path).write_text(f"{hexdigest}  {path.name}\n")
    return hexdigest


def check(path: Path) -> str:
    """The digest of `path` after checking it against its `.sha256`; RecordsError otherwise."""
    if not path.is_file():
        raise RecordsError(f"{path}: no such backup file")
    side = sidecar(path)
    try:
        expected = side.read_text().split()[0].lower()
    except (OSError, IndexError):
        raise RecordsError(f"{side}: missing or empty: the backup cannot be checked") from None
    actual = sha256_of(path)
    if actual != expected:
        raise RecordsError(
            f"{path}: SHA-256 {actual} does not match {side} ({expected}): the backup is "
            "damaged or was changed; restore another one"
        )
    return actual


def rotate(directory: Path, pattern: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` files matching `pattern` (and their .sha256)."""
    backups = sorted(directory.glob(pattern), key=lambda p: p.name, reverse=True)
    removed = []
    for old in backups[keep:]:
        old.unlink(missing_ok=True)
        sidecar(old).unlink(missing_ok=True)
        removed.append(old)
    return removed
