"""Signing in the dashboard (headless Chromium): an excursion's alarm acknowledged with a
signature from the report page, a report approved, a calibration recorded on the sensor page."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import orjson
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from runtime import events as ev
from tests.central.conftest import fresh_db, start_central
from tests.dashboard.browser import browser, signed_in  # noqa: F401 - fixture
from tests.dashboard.conftest import GATEWAY, PASSWORD, Site, make_people
from tests.qa import recording as rec

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
T = TypeVar("T")


def _off_loop(fn: Callable[[], T]) -> T:
    """Run `fn` in a thread: the CLI helpers call asyncio.run, Playwright's loop runs here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    """A central with --require-signatures and the dashboard's people."""
    stack = contextlib.ExitStack()

    def start() -> Site:
        workdir = tmp_path_factory.mktemp("strict-browser")
        db = stack.enter_context(fresh_db("sqlite", workdir, postgres_url))
        make_people(db, workdir)
        central = stack.enter_context(start_central(db, "sqlite", workdir, "--require-signatures"))
        site = Site(central, central.token(GATEWAY), workdir)
        stack.callback(site.close)  # before the central stops
        return site

    site = _off_loop(start)
    try:
        yield site
    finally:
        _off_loop(stack.close)


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


def test_with_require_signatures_the_alarms_and_users_pages_sign(
    strict: Site,
    browser: Browser,  # noqa: F811
) -> None:
    alarm_id = strict.raise_alarm("fridge-9.temp", 9.5, 8.0)
    page = signed_in(browser, strict, "ada").new_page()
    page.goto(f"{strict.url}/alarms")
    card = page.locator("article.alarm-group", has_text="fridge-9.temp")
    card.get_by_label(re.compile("^Comment")).fill("door was open, closed it")
    card.get_by_label("Reason").fill("door closed, product checked")
    card.get_by_label("User name").fill("ada")
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name="Acknowledge").click()
    signed = card.locator(".acks .signed")
    expect(signed).to_contain_text("signed by ada · acknowledged")
    expect(signed).to_contain_text("reason: door closed, product checked")
    assert strict.central.count("signatures", "record_type = 'alarm_ack'") >= 1
    assert strict.central.count("alarm_acks", "alarm_id = ?", (alarm_id,)) == 1
    page.goto(f"{strict.url}/users")
    row = page.locator("tr", has=page.locator("th", has_text="victor"))
    row.get_by_label("Role of victor").select_option("operator")
    row.get_by_role("button", name="Change role").click()
    row.get_by_label("Reason").fill("new shift lead")
    row.get_by_label("Password").fill(PASSWORD)  # the session signed once: password only
    row.get_by_role("button", name="Sign and set role operator").click()
    expect(page.locator("#users-msg")).to_have_text("role of victor set to operator (signed)")
    assert strict.central.count("signatures", "record_type = 'user_role'") == 1


def test_signing_a_sensor_group_signs_every_alarm_or_none(
    strict: Site,
    browser: Browser,  # noqa: F811
) -> None:
    sensor = "fridge-8.temp"
    ids = [_off_loop(lambda: strict.raise_alarm(sensor, 9.5, 8.0)) for _ in range(2)]
    page = signed_in(browser, strict, "ada").new_page()
    page.goto(f"{strict.url}/alarms")
    card = page.locator("article.alarm-group", has_text=sensor)
    card.get_by_label(re.compile("^Comment")).fill("both probes checked")
    card.get_by_label("Reason").fill("door closed, product checked")
    card.get_by_label("User name").fill("ada")
    card.get_by_label("Password").fill(PASSWORD)

    def one_gone(route: Route) -> None:  # an alarm that cannot be signed joins the group
        body = orjson.loads(route.request.post_data or "{}")
        body["alarm_ids"] = [*body["alarm_ids"], f"{GATEWAY}:{sensor}:high:gone"]
        route.continue_(post_data=orjson.dumps(body))

    page.route("**/api/v1/sensors/*/signed-ack", one_gone)
    card.get_by_role("button", name="Acknowledge").click()
    expect(card.get_by_role("alert")).to_contain_text("high:gone' cannot be signed (no such alarm)")
    marks = ", ".join("?" for _ in ids)
    assert strict.central.count("alarm_acks", f"alarm_id IN ({marks})", tuple(ids)) == 0
    page.unroute("**/api/v1/sensors/*/signed-ack")
    card.get_by_role("button", name="Acknowledge").click()
    expect(card.locator(".acks .signed")).to_have_count(2)
    assert strict.central.count("alarm_acks", f"alarm_id IN ({marks})", tuple(ids)) == 2
    stored = strict.central.count("signatures", "record_type = 'alarm_ack' AND signer = 'ada'")
    assert stored >= 2
