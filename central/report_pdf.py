"""The excursion report as PDF (reportlab), from the dict central/report_data.py builds.

One document per sensor or site report: the period in UTC and in the site's zone, the
figures (min/max/mean, time-weighted mean, MKT — shown beside the excursions, never
instead of them), data coverage and offline gaps, calibration status, every excursion with
its alarm (or why none), acknowledgements with their signatures, and a signature block of
the report's approvals (or empty lines to sign on paper). The footer carries the report's
content SHA-256; the API records the document's own SHA-256 in the audit trail.
"""

from __future__ import annotations

import html
import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from central.signatures import local_time, site_zone
from runtime.events import parse_time

_STYLES = getSampleStyleSheet()
_SMALL = ParagraphStyle("small", parent=_STYLES["BodyText"], fontSize=7.5, leading=9)
_FONT, _SIZE, _PAD = "Helvetica", 7.5, 3.0
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("FONT", (0, 0), (-1, -1), _FONT, _SIZE, 9),
        ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def render(report: dict[str, Any]) -> bytes:
    """The PDF bytes of a sensor or site report."""
    out = io.BytesIO()
    zone = site_zone()
    kind = report["kind"]
    subject = report["sensor"] if kind == "sensor" else report["site"]
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Excursion report {subject}",
        author="TracSeq Edge central",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
    )
    story: list[Any] = [
        Paragraph(_e(f"Excursion report: {kind} {subject}"), _STYLES["Title"]),
        _p(f"Period: {report['from']} to {report['to']} (UTC); "
           f"{_local(report['from'], zone)} to {_local(report['to'], zone)} ({zone})"),
    ]  # fmt: skip
    if kind == "site":
        story.append(
            _p(f"Sensors: {report['sensor_count']}; excursions: {report['excursion_count']}; "
               f"time out of range in total: {_dur(report['time_out_of_range_s'])}")
        )  # fmt: skip
        for sensor in report["sensors"]:
            story += _sensor(sensor, zone, heading=True)
    else:
        story += _sensor(report, zone, heading=False)
    story += _signature_block(report, zone)
    footer = f"Report content SHA-256: {report['content_sha256']}"

    def on_page(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 6.5)
        canvas.drawString(15 * mm, 10 * mm, footer)
        canvas.drawString(15 * mm, 6 * mm, f"Record: {report['record']}")
        canvas.drawRightString(195 * mm, 6 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def _sensor(r: dict[str, Any], zone: str, *, heading: bool) -> list[Any]:
    unit = r["unit"] or ""
    parts: list[Any] = []
    if heading:
        parts.append(Paragraph(_e(f"Sensor {r['sensor']}"), _STYLES["Heading2"]))
    limits = r["thresholds"]
    rows = [
        ["figure", "value"],
        ["limits", f"above {_n(limits['above'])} / below {_n(limits['below'])} {unit}"],
        ["readings", str(r["count"])],
        ["min / max", f"{_n(r['min'])} / {_n(r['max'])} {unit}"],
        ["mean / time-weighted mean", f"{_n(r['mean'])} / {_n(r['time_weighted_mean'])} {unit}"],
        ["mean kinetic temperature", f"{_n(r['mkt'])} {unit}" if r["mkt"] is not None else "n/a"],
        ["excursions", str(len(r["excursions"]))],
        ["time out of range", _dur(r["time_out_of_range_s"])],
        ["data coverage", "n/a" if r["coverage"] is None else f"{100 * r['coverage']:.2f} %"],
        ["offline gaps", str(len(r["gaps"]))],
        ["calibration", _calibration(r["calibration"])],
    ]
    parts += [Spacer(1, 3 * mm), _table(rows, [55 * mm, 125 * mm])]
    if r["gaps"]:
        parts.append(Paragraph("Gaps in the data (offline)", _STYLES["Heading4"]))
        gap_rows = [["from (UTC)", "to (UTC)", "duration"]]
        gap_rows += [[_short(g["from"]), _short(g["to"]), _dur(g["duration_s"])] for g in r["gaps"]]
        parts.append(_table(gap_rows, [60 * mm, 60 * mm, 40 * mm]))
    parts.append(Paragraph("Excursions", _STYLES["Heading4"]))
    if not r["excursions"]:
        parts.append(_p("No excursion in this period."))
        return parts
    exc_rows: list[list[Any]] = [
        ["#", "rule", "start / end (UTC)", "duration", "peak", "MKT", "alarm", "acknowledgement"]
    ]
    for i, x in enumerate(r["excursions"], 1):
        exc_rows.append(
            [
                str(i),
                x["rule"],
                f"{_short(x['start'])}\n{_short(x['end'])}{' (ongoing)' if x['ongoing'] else ''}",
                _dur(x["duration_s"]),
                f"{_n(x['peak'])} {unit}",
                "n/a" if x["mkt"] is None else f"{_n(x['mkt'])}",
                f"{x['alarm'].get('priority') or ''} {x['alarm']['state']}: {x['alarm']['why']}"
                + (f" ({x['alarm_id']})" if x["alarm_id"] else ""),
                _acks(x, zone),
            ]
        )  # fmt: skip
    widths = [7 * mm, 10 * mm, 29 * mm, 20 * mm, 17 * mm, 13 * mm, 40 * mm, 44 * mm]
    parts.append(_table(exc_rows, widths))
    return parts


def _acks(x: dict[str, Any], zone: str) -> str:
    lines = []
    for ack in x["acks"]:
        text = f"{ack['by']} at {ack['at']}: {ack['comment']}"
        for s in ack["signatures"]:
            text += (f" [signed by {s['signer']}, {s['meaning']}, {s['signed_at']} UTC / "
                     f"{s['local_time']} {s['zone']}; reason: {s['reason']}]")  # fmt: skip
        lines.append(text)
    if x.get("notifications"):
        sent = ", ".join(f"{n.get('channel')} {n.get('state')}" for n in x["notifications"])
        lines.append(f"notifications: {sent}")
    return "; ".join(lines) or "none"


def _signature_block(report: dict[str, Any], zone: str) -> list[Any]:
    rows: list[list[Any]] = [["printed name", "meaning", "date and time", "reason", "approved"]]
    for s in report["approvals"]:
        rows.append(
            [
                s["signer"],
                s["meaning"],
                _p(
                    f"{_short(s['signed_at'])} UTC<br/>{_e(s['local_time'])} {_e(s['zone'])}",
                    raw=True,
                ),
                _p(s["reason"]),
                "this content" if s["current"] else "an earlier version",
            ]
        )
    if not report["approvals"]:
        rows.append(["", "", "", "", ""])
        rows.append(["", "", "", "", ""])
    block = [
        Spacer(1, 5 * mm),
        Paragraph("Signatures", _STYLES["Heading3"]),
        _p("Electronic signatures (21 CFR Part 11) recorded by TracSeq Edge central for this "
           "report and period; each is linked to the report content by its SHA-256."),
        _table(rows, [35 * mm, 30 * mm, 45 * mm, 45 * mm, 25 * mm], height=9 * mm),
    ]  # fmt: skip
    return [KeepTogether(block)]


def _calibration(c: dict[str, Any]) -> str:
    if c["status"] == "not managed":
        return "no calibration records"
    text = "in calibration for the whole period" if c["status"] == "valid" else "NOT covered: "
    text += "; ".join(f"{u['why']} {u['from']} to {u['to']}" for u in c["uncovered"])
    certs = ", ".join(f"{r['certificate']} (due {r['due_at']})" for r in c["records"])
    return f"{text}{'; certificates ' + certs if certs else ''}"


def _table(rows: list[list[Any]], widths: list[float], height: float | None = None) -> Table:
    cells = [
        [_cell(c, w) if isinstance(c, str) else c for c, w in zip(row, widths, strict=True)]
        for row in rows
    ]
    heights = None if height is None else [None] + [height] * (len(rows) - 1)
    table = Table(cells, colWidths=widths, repeatRows=1, rowHeights=heights)
    table.setStyle(_GRID)
    return table


def _cell(text: str, width: float) -> str:
    """A table cell as plain lines broken to fit its column (a Paragraph lays out the same
    text at ~10x the cost: a site's thousands of excursions)."""
    room = width - 2 * _PAD
    lines = text.split("\n")
    if all(stringWidth(line, _FONT, _SIZE) <= room for line in lines):
        return text
    return "\n".join(part for line in lines for part in simpleSplit(line, _FONT, _SIZE, room))


def _p(text: str, raw: bool = False) -> Paragraph:
    return Paragraph(text if raw else _e(text), _SMALL)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=False)


def _n(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def _short(text: str) -> str:
    """An RFC 3339 UTC time as `2025-11-24 17:00:00` (to fit a table cell)."""
    return text[:19].replace("T", " ")


def _local(text: str, zone: str) -> str:
    return local_time(parse_time(text), zone)
