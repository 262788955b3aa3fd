"""Signing in the dashboard (headless Chromium): an excursion's alarm acknowledged with a
signature from the report page, a report approved, a calibration recorded on the sensor page."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, Page, expect

from runtime import events as ev
from tests.dashboard.browser import browser, signed_in  # noqa: F401 - fixture
from tests.dashboard.conftest import GATEWAY, PASSWORD, Site
from tests.qa import recording as rec

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def recorded(site: Site, sensor: str) -> str:
    batch, high_id, _ = rec.events(GATEWAY, sensor)
    for e in batch:
        seq = site.next_seq()
        e["id"], e["data"]["seq"] = f"{GATEWAY}:{seq}", seq
    site.send(batch)
    return high_id


def report_page(page: Page, site: Site, sensor: str) -> None:
    query = f"sensor={sensor}&from={ev.format_time(rec.T0)}&to={ev.format_time(rec.END)}"
    page.goto(f"{site.url}/report?{query}")
    expect(page.locator("tr.excursion")).to_have_count(3)


def test_acknowledging_and_approving_with_a_signature(browser: Browser, site: Site) -> None:  # noqa: F811
    sensor = "qa-browser.temp"
    high_id = recorded(site, sensor)
    page = signed_in(browser, site, "olga").new_page()
    report_page(page, site, sensor)
    row = page.locator(f'tr.excursion[data-alarm-id="{high_id}"]')
    expect(row).to_contain_text("raised 300 s after the start")
    row.get_by_text("Acknowledge with signature").click()
    form = row.locator("form.sign-form")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign acknowledgement").click()
    expect(form.get_by_role("alert")).to_have_text("A reason is required.")
    form.get_by_label("Reason").fill("compressor restarted, product moved to F14")
    form.get_by_label("User name").fill("olga")
    form.get_by_label("Password").fill("not my password")
    form.get_by_role("button", name="Sign acknowledgement").click()
    expect(form.get_by_role("alert")).to_contain_text("Not signed: wrong user name or password")
    failed = "action = 'signature.failed' AND target = 'olga'"
    assert site.central.count("audit", failed) == 1
    assert site.central.count("alarm_acks", "alarm_id = ?", (high_id,)) == 0
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Meaning").select_option("corrective action taken")
    form.get_by_role("button", name="Sign acknowledgement").click()
    signed = page.locator(f'tr.excursion[data-alarm-id="{high_id}"] .signed')
    expect(signed).to_contain_text("signed by olga · corrective action taken")
    expect(signed).to_contain_text("reason: compressor restarted, product moved to F14")
    expect(signed.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\dT.*Z UTC$"))
    # the same session signs again with the password only (continuous signing session)
    page.get_by_text("Approve this report (signed)").click()
    approve = page.locator(".approvals form.sign-form")
    approve.get_by_label("Reason").fill("reviewed the excursions of 24 Nov")
    approve.get_by_label("Password").fill(PASSWORD)
    approve.get_by_role("button", name="Sign approval").click()
    expect(page.locator(".approvals li .signed")).to_contain_text("signed by olga · approved")
    assert site.central.count("signatures", "signer = 'olga'") == 2


def test_recording_a_calibration_on_the_sensor_page(browser: Browser, site: Site) -> None:  # noqa: F811
    sensor = "qa-cal.temp"
    recorded(site, sensor)
    page = signed_in(browser, site, "ada").new_page()
    page.goto(f"{site.url}/sensor?id={sensor}")
    expect(page.locator("#calibration")).to_contain_text("No calibration records.")
    page.get_by_text("Record a calibration (signed)").click()
    form = page.locator("form.cal-form")
    form.get_by_label("Certificate number").fill("CAL-2025-0042")
    form.get_by_label("Reference standard").fill("Fluke 1524 s/n 123")
    form.get_by_label("Performed (UTC)").fill("2024-01-10")
    form.get_by_label("Due (UTC)").fill("2025-01-10")
    form.get_by_label("Performed by").fill("Metrology Ltd")
    form.get_by_label(re.compile("^Points")).fill("-80/-79.6/-80.0; 0/0.3/0")
    form.get_by_label(re.compile("^Certificate \\(PDF")).set_input_files(
        files=[{"name": "cert.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    form.get_by_label("Reason").fill("annual calibration")
    form.get_by_label("User name").fill("ada")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign and save").click()
    row = page.locator("tr.calibration")
    expect(row).to_contain_text("CAL-2025-0042")
    expect(row.locator(".signed")).to_contain_text("signed by ada · performed")
    expect(page.locator(".overdue")).to_contain_text("Calibration overdue since 2025-01-10")
    deadline = time.time() + 10
    while time.time() < deadline and not site.central.count(
        "alarms", "rule = 'calibration_due' AND subject = ? AND cleared_at IS NULL", (sensor,)
    ):
        time.sleep(0.1)
    assert site.central.count("alarms", "rule = 'calibration_due' AND subject = ?", (sensor,)) == 1
