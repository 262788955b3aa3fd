"""Files that hold secrets or private data are created readable by their owner only.

The central database (password hashes, sessions), the edge's durable log, tokens and
passwords were created 0644 (the process umask), readable by every local user. Here they
are created 0600 from the start (not chmod-ed afterwards, which leaves a window); SQLite
gives its -wal and -shm files the database file's mode. The systemd units also set
`UMask=0027` for anything else a service creates.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (an empty file is a valid empty
    SQLite database); an existing file keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return
    os.close(fd)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, created (or truncated and re-moded) 0600 before any byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
