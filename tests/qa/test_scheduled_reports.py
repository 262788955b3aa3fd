"""Scheduled excursion reports (issue 16 item 5): a site's report PDF e-mailed through the
notification channels at its time, recorded in the delivery log; a bad `reports:` entry is
a located error."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central.notify import reports
from central.notify.config import Report, load_notifications
from runtime.errors import ConfigError
from sim.mailcatcher import MailCatcher
from tests.central.conftest import Central, reading
from tests.notify.conftest import Lab, central_with, write_config
from tests.servers import wait_until

SMTP = (
    "channels:\n"
    "  mail:\n"
    "    smtp: {{host: 127.0.0.1, port: {port}, security: none,\n"
    '           from: "TracSeq <qa@lab.example>", timeout: 5s}}\n'
    "  chat: {{webhook: {{url: 'http://127.0.0.1:1/h'}}}}\n"
)


def _log(central: Central) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = central.get("/api/v1/notifications").json()["notifications"]
    return rows


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, entries: str) -> list[str]:
    path = _write(tmp_path, SMTP.format(port=25) + "reports:\n" + entries)
    with pytest.raises(ConfigError) as caught:
        load_notifications(path)
    return [line.removeprefix(f"{path}:") for line in str(caught.value).splitlines()]


def test_a_bad_reports_entry_is_a_located_error(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '  - {site: "a/*", at: "monday 7am", to: [x@lab.example], channel: mail}\n'
        '  - {site: "a/*", every: 3d, at: "mon 07:00", to: [x@lab.example], channel: mail}\n',
    )
    assert problems[0].startswith("7:23: reports[0].at: a day and a time like 'mon 07:00'")
    assert problems[1].startswith("8:5: reports[1]: every: whole weeks"), problems
    problems = _problems(
        tmp_path,
        '  - {site: "a/*", to: [x@lab.example], channel: chat}\n'
        '  - {site: "a/*", to: [group:nobody], channel: post}\n',
    )
    assert any(p.startswith("7:") and "is webhook" in p and "smtp channel" in p for p in problems)
    assert any(p.startswith("8:") and "unknown channel 'post'" in p for p in problems)
    assert any(p.startswith("8:") and "unknown group 'nobody'" in p for p in problems), problems


def test_the_schedule_is_local_wall_clock_time_every_week() -> None:
    weekly = Report.model_validate(
        {
            "site": "a/*",
            "at": "mon 07:00",
            "timezone": "Europe/Stockholm",
            "to": ["x@y.z"],
            "channel": "mail",
        }
    )
    tuesday = datetime(2026, 3, 31, 12, 0, tzinfo=UTC).timestamp()  # the day after DST began
    assert (
        reports.latest_slot(weekly, tuesday) == datetime(2026, 3, 30, 5, 0, tzinfo=UTC).timestamp()
    )
    monday_early = datetime(2026, 3, 30, 4, 59, tzinfo=UTC).timestamp()  # 06:59 local
    assert (
        reports.latest_slot(weekly, monday_early)
        == datetime(
            2026,
            3,
            23,
            6,
            0,
            tzinfo=UTC,  # 07:00 CET the week before
        ).timestamp()
    )
    daily = Report.model_validate(
        {"site": "a/*", "every": "1d", "at": "07:00", "to": ["x@y.z"], "channel": "mail"}
    )
    assert (
        reports.latest_slot(daily, tuesday) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC).timestamp()
    )


def test_a_sites_weekly_report_arrives_as_a_pdf_attachment_and_is_logged(
    tmp_path: Path, mail: MailCatcher
) -> None:
    just_now = datetime.fromtimestamp(time.time() - 60, UTC)
    at = f"{just_now.strftime('%a').lower()} {just_now.strftime('%H:%M')}"
    config = write_config(
        tmp_path,
        SMTP.format(port=mail.port)
        + "groups:\n  qa-team: [quality@lab.example]\n"
        + "reports:\n"
        + f'  - {{site: "building-a/*", every: 7d, at: "{at}", timezone: UTC,\n'
        + "     to: [group:qa-team], channel: mail}\n",
    )
    with central_with(tmp_path, config) as central:
        lab = Lab(central)
        lab.describe("ult-F12.temp", site="building-a/r1")
        lab.describe("ult-F99.temp", site="building-b/r9")  # another site: no report
        now = time.time()
        lab.seq += 1
        lab.send([reading(lab.gateway, lab.seq, "ult-F12.temp", -80.5, at=now - 3600)])
        wait_until(lambda: mail.messages)
        wait_until(lambda: [n["state"] for n in _log(central)] == ["sent"])
        log = _log(central)
        audit = central.get("/api/v1/audit", limit=20).json()["entries"]
    (sent,) = mail.messages
    assert sent.recipients == ("quality@lab.example",)
    assert sent.subject.startswith("[TracSeq] Excursion report building-a/r1, ")
    (pdf,) = [p for p in sent.message.walk() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename().startswith("report-building-a_r1-")
    document = pdf.get_payload(decode=True)
    (tmp_path / "report.pdf").write_bytes(document)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "building-a/r1" in text and "ult-F12.temp" in text and "ult-F99" not in text
    (row,) = log
    assert (row["event"], row["channel"], row["to"], row["state"]) == (
        "report", "mail", ["quality@lab.example"], "sent",
    )  # fmt: skip
    slot = reports.latest_slot(
        Report.model_validate({"site": "x", "at": at, "to": ["x@y.z"], "channel": "mail"}), now
    )
    assert row["policy"] == reports.key("building-a/r1", slot - 7 * 86_400, slot)
    assert any(e["action"] == "report.pdf" and e["actor"] == "central:reports" for e in audit)
