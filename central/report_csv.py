"""The sensor report as CSV (`GET /api/v1/reports/sensors/{id}?format=csv`).

First the summary as `field,value` rows (what the JSON report holds), then a blank line and
the readings as min/avg/max per step (about 1,000 rows whatever the window), so the file
opens in a spreadsheet and still says how the figures were obtained.
"""

from __future__ import annotations

import csv
import io

from starlette.responses import Response

from central.audit import safe_cell
from central.download import attachment
from central.reports import DELTA_H, Report
from runtime.events import format_time


def report_csv(
    sensor: str,
    start: float,
    end: float,
    unit: str | None,
    limits: tuple[float | None, float | None],
    report: Report,
    buckets: list[tuple[float, float, float, float, int]],
) -> Response:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["field", "value"])
    w.writerow(["sensor", safe_cell(sensor)])
    w.writerow(["from", format_time(start)])
    w.writerow(["to", format_time(end)])
    w.writerow(["unit", safe_cell(unit)])
    w.writerow(["threshold_above", _num(limits[0])])
    w.writerow(["threshold_below", _num(limits[1])])
    w.writerow(["delta_h_kj_per_mol", DELTA_H / 1000])
    for key, value in report.to_dict().items():
        w.writerow([key, _num(value)])
    w.writerow([])
    w.writerow(["time", "min", "avg", "max", "count"])
    for b, lo, avg, hi, n in buckets:
        w.writerow([format_time(b), lo, avg, hi, n])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"report-{sensor[:80]}.csv")},
    )


def _num(value: object) -> str:
    return "" if value is None else str(value)
