"""`tracseq-edge status`: what is in the durable log, read without disturbing the daemon.

Buffer depth per cursor, the oldest undelivered event's age, the last sync, rejects,
quarantined events, active alarms and the log's own error counters; `--json` for tools.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
import sqlite_utils

from edge.rules import active_alarms
from edgeconfig import load_config
from runtime import events


def collect_status(log_path: Path, cursors: tuple[str, ...], now: float) -> dict[str, Any]:
    """The status of the log at `log_path` as plain data."""
    if not log_path.exists():
        return {"log": str(log_path), "exists": False}
    db = sqlite_utils.Database(log_path)
    db.conn.execute("PRAGMA query_only=1")
    state = {
        row["key"]: row["value"].encode() if isinstance(row["value"], str) else bytes(row["value"])
        for row in db["state"].rows
    }
    last_seq = max(
        int(state.get("last_seq", b"0") or 0),
        db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0],
    )
    positions = {row["name"]: row["seq"] for row in db["cursors"].rows}
    out_cursors: dict[str, Any] = {}
    for name in cursors:
        position = int(positions.get(name, 0))
        oldest = db.execute(
            "SELECT received FROM entries WHERE seq > ? ORDER BY seq LIMIT 1", [position]
        ).fetchone()
        out_cursors[name] = {
            "position": position,
            "pending": max(0, last_seq - position),
            "oldest_undelivered_age_s": round(now - oldest[0], 1) if oldest else 0.0,
        }
    rejects_total = db["rejects"].count
    recent_rejects = [
        {"time": events.format_time(r[0]), "source": r[1], "reason": r[2]}
        for r in db.execute(
            "SELECT received, source, reason FROM rejects ORDER BY id DESC LIMIT 5"
        ).fetchall()
    ]
    quarantined = [
        {"seq": r[0], "reason": r[1], "time": events.format_time(r[2])}
        for r in db.execute(
            "SELECT seq, reason, at FROM quarantine ORDER BY seq DESC LIMIT 5"
        ).fetchall()
    ]
    alarms = [alarm.to_dict() for alarm in active_alarms(state)]
    last_sync = _time_text(state.get("sync:last_ok"))
    return {
        "log": str(log_path),
        "exists": True,
        "last_seq": last_seq,
        "entries": db["entries"].count,
        "size_bytes": log_path.stat().st_size,
        "cursors": out_cursors,
        "last_sync": last_sync,
        "rejects": {"total": rejects_total, "recent": recent_rejects},
        "quarantine": {"total": db["quarantine"].count, "recent": quarantined},
        "active_alarms": alarms,
        "dropped": {
            "delivered": int(state.get("dropped:delivered", b"0") or 0),
            "undelivered": int(state.get("dropped:undelivered", b"0") or 0),
        },
    }


def _time_text(raw: bytes | None) -> str | None:
    """A stored epoch (or already formatted time) as RFC 3339."""
    if not raw:
        return None
    text = raw.decode(errors="replace")
    try:
        return events.format_time(float(text))
    except ValueError:
        return text


def run_status(config_path: str, *, as_json: bool) -> int:
    config = load_config(config_path)
    cursors = tuple(n for n, on in (("redis", config.redis), ("sync", config.sync)) if on)
    status = collect_status(config.gateway.data_dir / "log.db", cursors, time.time())
    if as_json:
        sys.stdout.write(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(render(status))
    return 0


def render(status: dict[str, Any]) -> str:
    if not status.get("exists"):
        return f"log: {status['log']} (not created yet: the daemon has not run)"
    lines = [
        f"log: {status['log']}  last seq {status['last_seq']}  "
        f"{status['entries']} entries  {status['size_bytes'] / 1e6:.1f} MB",
    ]
    for name, cursor in status["cursors"].items():
        lines.append(
            f"cursor {name}: at {cursor['position']}, {cursor['pending']} pending, "
            f"oldest undelivered {cursor['oldest_undelivered_age_s']}s"
        )
    lines.append(f"last sync: {status['last_sync'] or 'never'}")
    rejects = status["rejects"]
    lines.append(f"rejects: {rejects['total']}")
    lines.extend(f"  {r['time']} {r['source']}: {r['reason']}" for r in rejects["recent"])
    quarantine = status["quarantine"]
    lines.append(f"quarantined (not accepted by central): {quarantine['total']}")
    lines.extend(f"  seq {q['seq']} {q['time']}: {q['reason']}" for q in quarantine["recent"])
    dropped = status["dropped"]
    if dropped["undelivered"]:
        lines.append(f"DROPPED undelivered readings (log full): {dropped['undelivered']}")
    lines.append(f"active alarms: {len(status['active_alarms'])}")
    lines.extend(
        f"  {a['sensor']} {a['rule']}: {a['value']} (threshold {a['threshold']}) "
        f"since {a['since']} [{a['alarm_id']}]"
        for a in status["active_alarms"]
    )
    return "\n".join(lines)
