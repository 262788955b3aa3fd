"""Scheduled excursion reports: one PDF per site, e-mailed as an attachment (issue 16).

The notifications file's `reports:` list (central/notify/config.py: `Report`) says which
sites (a glob), how often (`every`, whole days), when (`at`: `mon 07:00` or `07:00`, local
time of `timezone`), over what period (`period`, default `every`) and to whom (`to`, like a
policy target: addresses, user names, `group:NAME`) through which smtp `channel`. At each
scheduled time the sender writes one notification per recipient into the delivery log
(event `report`, policy `report <site> <from>/<to>`), in one transaction and only once per
site, period and recipient (checked first; a unique index of migration 7 makes the loser of
a race between two instances roll back), so a restart or a second instance does not send
it again; a time missed while central was down is sent when it comes back (the latest one
only). The notification is then sent like any other (claimed, retried with backoff, each
attempt recorded), the PDF built when it is sent (central/report_data.py,
central/report_pdf.py) and its SHA-256 written to the audit trail (`report.pdf`, actor
`central:reports`).
"""

from __future__ import annotations

import fnmatch
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from central.notify import outbox
from central.notify.config import AT, DAY_S, DAYS, NotifyConfig, Report, Target
from central.notify.messages import Message
from central.notify.policy import Contact, recipients
from central.storage.dialect import Dialect
from runtime.events import format_time, parse_time

EVENT = "report"
ACTOR = "central:reports"
_PREFIX = "report "


def latest_slot(report: Report, now: float) -> float:
    """The latest scheduled time at or before `now` (epoch seconds)."""
    match = AT.fullmatch(report.at)
    assert match is not None  # the model's pattern
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    zone = ZoneInfo(report.timezone)
    step = int(report.every // DAY_S)
    anchor = date(1970, 1, 5) + timedelta(days=DAYS.index(day)) if day else date(1970, 1, 1)
    today = datetime.fromtimestamp(now, zone).date()
    for back in range(step + 1):
        day_ = today - timedelta(days=back)
        if (day_ - anchor).days % step:
            continue
        at = datetime.combine(day_, time(hour, minute), tzinfo=zone).timestamp()
        if at <= now:
            return at
    raise AssertionError("a slot lies within `every` before now")  # pragma: no cover


def key(site: str, start: float, end: float) -> str:
    """The delivery log's `policy` of a site's report over [start, end)."""
    return f"{_PREFIX}{site} {format_time(start)}/{format_time(end)}"


def parse_key(policy: str) -> tuple[str, float, float]:
    """(site, start, end) of a report notification's policy (see `key`)."""
    site, _, period = policy.removeprefix(_PREFIX).rpartition(" ")
    start, _, end = period.partition("/")
    return site, parse_time(start), parse_time(end)


def schedule(
    conn: Any,
    d: Dialect,
    config: NotifyConfig,
    contacts: dict[str, Contact],
    report: Report,
    slot: float,
    now: float,
) -> tuple[int, int]:
    """Write the notifications of `report`'s run at `slot` not written yet: (sites matched,
    notifications written)."""
    sites = [
        str(r[0])
        for r in d.all(conn, "SELECT DISTINCT site FROM sensors WHERE site IS NOT NULL")
        if fnmatch.fnmatchcase(str(r[0]), report.site)
    ]
    made = 0
    with d.transaction(conn):
        for site in sorted(sites):
            policy = key(site, slot - report.covers, slot)
            target = Target(channel=report.channel, to=report.to)
            for address in recipients(config, target, contacts):
                to = outbox_recipients([address])
                exists = d.one(
                    conn,
                    """SELECT 1 FROM notifications WHERE event = ? AND policy = ?
                        AND channel = ? AND recipients = ?""",
                    (EVENT, policy, report.channel, to),
                )
                if exists is None:
                    outbox.create(
                        conn, d, policy=policy, level=0, event=EVENT, channel=report.channel,
                        recipients=[address], alarm_ids=[], now=now, due=now, group_until=None,
                    )  # fmt: skip
                    made += 1
    return len(sites), made


def outbox_recipients(to: list[str]) -> str:
    """`recipients` as the notifications table stores it (JSON)."""
    return orjson.dumps(to).decode()


def message(body: dict[str, Any], site: str, start: float, end: float) -> Message:
    """The e-mail that carries a site's report PDF."""
    period = f"{format_time(start)} to {format_time(end)}"
    out = body.get("time_out_of_range_s") or 0.0
    text = "\n".join(
        [
            f"Excursion report of site {site}, {period} (UTC).",
            "",
            f"Sensors: {body.get('sensor_count', 0)}",
            f"Excursions: {body.get('excursion_count', 0)}",
            f"Time out of range: {out:.0f} s",
            f"Content SHA-256: {body.get('content_sha256', '')}",
            "",
            "The report is attached as a PDF. Approve it (signed) on the dashboard's Reports page.",
        ]
    )
    return Message(
        subject=f"[TracSeq] Excursion report {site}, {format_time(start)[:10]} to "
        f"{format_time(end)[:10]}",
        text=text,
        short=f"TracSeq excursion report {site}",
        event=EVENT,
        alarms=(),
    )


def filename(site: str, end: float) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in site)[:80] or "site"
    return f"report-{safe}-{format_time(end)[:10]}.pdf"
