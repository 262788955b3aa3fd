"""The excursion report as CSV (`GET /api/v1/reports/sensors/{id}?format=csv`).

First the summary as `field,value` rows (what the JSON report holds), then blank-line
separated tables: the excursions (with their alarm, acknowledgements and signatures), the
offline gaps, the approvals, and the readings as min/avg/max per step (about 1,000 rows
whatever the window), so the file opens in a spreadsheet and still says how the figures
were obtained. Cells a spreadsheet would run as a formula are defused (central/audit.py).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.responses import Response

from central.audit import safe_cell
from central.download import attachment
from runtime.events import format_time

_SUMMARY = (
    "count", "min", "max", "mean", "time_weighted_mean", "covered_s", "time_above_s",
    "time_below_s", "mkt", "time_out_of_range_s", "coverage", "typical_interval_s",
    "gap_threshold_s",
)  # fmt: skip


def report_csv(
    report: dict[str, Any], buckets: list[tuple[float, float, float, float, int]]
) -> Response:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")

    def row(*cells: Any) -> None:
        w.writerow([safe_cell(_text(c)) for c in cells])

    row("field", "value")
    row("sensor", report["sensor"])
    row("from", report["from"])
    row("to", report["to"])
    row("unit", report["unit"])
    row("threshold_above", report["thresholds"]["above"])
    row("threshold_below", report["thresholds"]["below"])
    row("delta_h_kj_per_mol", report["delta_h_kj_per_mol"])
    for key in _SUMMARY:
        row(key, report[key])
    row("calibration", report["calibration"]["status"])
    row("content_sha256", report["content_sha256"])
    w.writerow([])
    row("excursion", "rule", "start", "end", "duration_s", "peak", "mkt", "ongoing", "alarm_id",
        "alarm", "why", "acks")  # fmt: skip
    for i, x in enumerate(report["excursions"], 1):
        acks = " | ".join(_ack(a) for a in x["acks"])
        row(i, x["rule"], x["start"], x["end"], x["duration_s"], x["peak"], x["mkt"],
            x["ongoing"], x["alarm_id"], x["alarm"]["state"], x["alarm"]["why"], acks)  # fmt: skip
    w.writerow([])
    row("gap_from", "gap_to", "duration_s")
    for g in report["gaps"]:
        row(g["from"], g["to"], g["duration_s"])
    w.writerow([])
    row("approved_by", "meaning", "reason", "signed_at", "local_time", "zone", "current")
    for s in report["approvals"]:
        row(s["signer"], s["meaning"], s["reason"], s["signed_at"], s["local_time"], s["zone"],
            s["current"])  # fmt: skip
    w.writerow([])
    row("time", "min", "avg", "max", "count")
    for b, lo, avg, hi, n in buckets:
        row(format_time(b), lo, avg, hi, n)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"report-{report['sensor'][:80]}.csv")},
    )


def _ack(ack: dict[str, Any]) -> str:
    text = f"{ack['by']} {ack['at']}: {ack['comment']}"
    for s in ack["signatures"]:
        text += f" [signed {s['signer']} {s['meaning']} {s['signed_at']}: {s['reason']}]"
    return text


def _text(value: Any) -> str:
    return "" if value is None else str(value)
