"""`tracseq-edge status`: what is in the durable log, read without disturbing the daemon.

Buffer depth per cursor, the oldest undelivered event's age, the last sync, rejects,
quarantined events, sensors reporting themselves unavailable, active alarms and the log's
own error counters; `--json` for tools.
The log is read through `LogSnapshot` (the one read-only opener, edge.sqlite): each
component's state is read by its own prefix, never the log's private keys.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson

from edge.alarms.store import ALARM_PREFIX
from edge.log import LogSnapshot
from edge.pipeline import UNAVAILABLE_PREFIX
from edge.rules import active_alarms
from edgeconfig import load_config
from runtime import events

LAST_SYNC_KEY = "sync:last_ok"  # written by sync.uploader (sync sits above edge)


def collect_status(
    log_path: Path,
    cursors: tuple[str, ...],
    now: float,
    sensors: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The status of the log at `log_path` as plain data; `sensors`: the configured ids
    (a sensor since removed from the config is not listed as unavailable)."""
    if not log_path.exists():
        return {"log": str(log_path), "exists": False}
    with LogSnapshot(log_path) as snap:
        last_seq = snap.last_seq()
        positions = snap.cursors()
        out_cursors: dict[str, Any] = {}
        for name in cursors:
            position = positions.get(name, 0)
            oldest = snap.oldest_received_after(position)
            out_cursors[name] = {
                "position": position,
                "pending": max(0, last_seq - position),
                "oldest_undelivered_age_s": round(now - oldest, 1) if oldest else 0.0,
            }
        rejects_total, rejects = snap.rejects(5)
        quarantine_total, quarantined = snap.quarantine(5)
        alarms = [alarm.to_dict() for alarm in active_alarms(snap.state(ALARM_PREFIX))]
        last_sync = _time_text(snap.state(LAST_SYNC_KEY).get(LAST_SYNC_KEY))
        unavailable = _unavailable(snap.state(UNAVAILABLE_PREFIX), sensors)
        return {
            "log": str(log_path),
            "exists": True,
            "last_seq": last_seq,
            "entries": snap.entries(),
            "size_bytes": log_path.stat().st_size,
            "cursors": out_cursors,
            "last_sync": last_sync,
            "rejects": {
                "total": rejects_total,
                "recent": [
                    {"time": events.format_time(at), "source": source, "reason": reason}
                    for at, source, reason in rejects
                ],
            },
            "quarantine": {
                "total": quarantine_total,
                "recent": [
                    {"seq": seq, "reason": reason, "time": events.format_time(at)}
                    for seq, reason, at in quarantined
                ],
            },
            "unavailable": unavailable,
            "active_alarms": alarms,
            "dropped": snap.dropped(),
        }


def _unavailable(state: dict[str, bytes], sensors: frozenset[str] | None) -> list[dict[str, Any]]:
    """Sensors whose latest message said they have no value, by id, with since when."""
    found = {key.removeprefix(UNAVAILABLE_PREFIX): since for key, since in state.items()}
    return [
        {"sensor": sensor, "since": _time_text(since)}
        for sensor, since in sorted(found.items())
        if sensors is None or sensor in sensors
    ]


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
    sensors = frozenset(sensor.id for sensor in config.sensors)
    status = collect_status(config.gateway.data_dir / "log.db", cursors, time.time(), sensors)
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
    unavailable = status["unavailable"]
    lines.append(f"sensors reporting unavailable: {len(unavailable)}")
    lines.extend(f"  {u['sensor']} since {u['since']}" for u in unavailable)
    lines.append(f"active alarms: {len(status['active_alarms'])}")
    lines.extend(
        f"  {a['sensor']} {a['rule']}: {a['value']} (threshold {a['threshold']}) "
        f"since {a['since']} [{a['alarm_id']}]"
        for a in status["active_alarms"]
    )
    return "\n".join(lines)
