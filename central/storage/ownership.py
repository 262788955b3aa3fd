"""Which gateway owns a sensor, and the one way to change it: an audited admin move.

Ingest never moves a sensor (central/storage/write.py refuses another gateway's writes);
when a sensor really is rewired to a new gateway, an admin runs
`tracseq-edge central sensor move SENSOR --to GATEWAY`, which changes the owner and writes
`sensor.move` (old and new gateway) to the audit trail in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from central.storage.dialect import Dialect
from central.storage.people import append_audit


@dataclass(frozen=True, slots=True)
class Move:
    """What a move did: `found` False for an unknown sensor; `before` the previous owner."""

    found: bool
    before: str | None = None


def move_sensor(conn: Any, d: Dialect, sensor: str, gateway: str, actor: str, now: float) -> Move:
    with d.transaction(conn):
        row = d.one(conn, "SELECT gateway FROM sensors WHERE id = ?", (sensor,))
        if row is None:
            return Move(False)
        before = None if row[0] is None else str(row[0])
        d.execute(conn, "UPDATE sensors SET gateway = ? WHERE id = ?", (gateway, sensor))
        append_audit(
            conn, d, now, actor, "sensor.move", sensor, {"gateway": before}, {"gateway": gateway}
        )
    return Move(True, before)
