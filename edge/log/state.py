"""The log's bookkeeping tables: cursors, key/value state and its own counters.

Keys the log keeps for itself (`last_seq`, `dropped:*`) are read and written only here;
other components own their prefixes (`alarm:`, `sync:`) and reach them through
`DurableLog.state(prefix)` / `put_state`, or `LogSnapshot.state(prefix)` when read-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

LAST_SEQ = "last_seq"  # the highest seq ever assigned (seqs are never reused after pruning)
DROPPED_DELIVERED = "dropped:delivered"  # rows the size cap removed after every cursor passed
DROPPED_UNDELIVERED = "dropped:undelivered"  # readings the size cap removed undelivered
_PRIVATE = (LAST_SEQ, "dropped:")


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest seq assigned so far (0 for a new log)."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (LAST_SEQ,)).fetchone()
    stored = int(_bytes(row[0]).decode()) if row else 0
    top = conn.execute("SELECT max(seq) FROM entries").fetchone()[0] or 0
    return max(stored, int(top))


def cursors(conn: sqlite3.Connection, names: Iterable[str] | None = None) -> dict[str, int]:
    """Cursor positions; with `names`, exactly those (0 for one never moved)."""
    found = {name: int(seq) for name, seq in conn.execute("SELECT name, seq FROM cursors")}
    if names is None:
        return found
    return {name: found.get(name, 0) for name in names}


def read(conn: sqlite3.Connection, prefix: str) -> dict[str, bytes]:
    """The state whose keys start with `prefix` (a component's own prefix)."""
    rows = conn.execute(
        "SELECT key, value FROM state WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
    )
    return {key: _bytes(value) for key, value in rows}


def dropped(conn: sqlite3.Connection) -> dict[str, int]:
    """What the size cap has dropped since the log was created."""
    counts = read(conn, "dropped:")
    return {
        "delivered": int(counts.get(DROPPED_DELIVERED, b"0") or 0),
        "undelivered": int(counts.get(DROPPED_UNDELIVERED, b"0") or 0),
    }


def check_keys(changes: Mapping[str, bytes | None]) -> None:
    """Refuse (in the caller, before queueing) keys the log keeps for itself."""
    for key in changes:
        if key.startswith(_PRIVATE):
            raise ValueError(f"state key {key!r} belongs to the durable log itself")


# --- writes: only inside the writer thread's transaction ----------------------------------


def move_cursor(conn: sqlite3.Connection, name: str, position: int) -> None:
    """Move cursor `name` to `position`, never backwards."""
    conn.execute(
        "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(name) "
        "DO UPDATE SET seq = max(seq, excluded.seq)",
        (name, position),
    )


def write(conn: sqlite3.Connection, changes: Mapping[str, bytes | None]) -> None:
    """Set (or delete, for None) keys of the key/value state."""
    for key, value in changes.items():
        if value is None:
            conn.execute("DELETE FROM state WHERE key = ?", (key,))
        else:
            _put(conn, key, value)


def keep_last_seq(conn: sqlite3.Connection) -> None:
    """Record the highest seq before rows are deleted, so seqs continue past it even when
    every row is gone (commits do not write it: max(seq) says it while rows are there)."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (LAST_SEQ,)).fetchone()
    stored = int(_bytes(row[0]).decode()) if row else 0
    top = conn.execute("SELECT max(seq) FROM entries").fetchone()[0]
    if top is not None and int(top) > stored:
        _put(conn, LAST_SEQ, str(int(top)).encode())


def count(conn: sqlite3.Connection, key: str, n: int) -> None:
    """Add `n` to a persistent counter (survives restarts; shown by `status`)."""
    if n:
        conn.execute(
            "INSERT INTO state VALUES (?, CAST(? AS TEXT)) ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)",
            (key, n, n),
        )


def _put(conn: sqlite3.Connection, key: str, value: bytes) -> None:
    conn.execute(
        "INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
