"""The dashboard in real headless Chromium against a real central with real data.

The README's screenshots come from the demo, not from these fixtures (their sensor ids
are SQL and HTML on purpose): `python -m tests.dashboard.screenshots`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.dashboard.browser import browser, sign_in_with_form, signed_in
from tests.dashboard.conftest import FLEET, SQLI_ID, XSS_ID, Site, insert_million

__all__ = ["browser"]


@pytest.fixture(scope="module")
def admin_page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_with_form(page, site, "ada")
    try:
        yield page
    finally:
        context.close()


def _span(url: str) -> float:
    q = parse_qs(urlsplit(url).query)
    return float(q["to"][0]) - float(q["from"][0]) if "step" in q else 0.0


def tile(page: Page, sensor: str):  # type: ignore[no-untyped-def]
    return page.locator(".tile").filter(has=page.get_by_text(sensor, exact=True))


def test_fleet_view_shows_every_sensor_grouped_by_site(admin_page: Page, site: Site) -> None:
    page = admin_page
    expect(page.locator("#live")).to_have_text("● live")
    for sensor, *_ in FLEET:
        expect(tile(page, sensor)).to_have_count(1)
    expect(page.locator(".site h3")).to_have_text(["lab3", "lab4"])
    expect(page.locator("#gateways tbody")).to_contain_text("lab3-edge-01")
    # The injected ids are text, not markup: no <img> element, nothing ran.
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.__xss") is None
    expect(tile(page, SQLI_ID)).to_have_count(1)
    page.wait_for_function("document.querySelectorAll('.spark polyline').length >= 5")


def test_search_filters_tiles(admin_page: Page) -> None:
    page = admin_page
    page.get_by_label("Search").fill("lab4")
    expect(page.locator(".tile")).to_have_count(4)
    page.get_by_label("Search").fill("")
    expect(page.locator(".tile")).to_have_count(len(FLEET))


def test_new_reading_appears_within_2s_without_reload(admin_page: Page, site: Site) -> None:
    page = admin_page
    page.evaluate("window.__notReloaded = true")
    site.reading("ult-F12.temp", -71.4)
    expect(tile(page, "ult-F12.temp").locator(".tile-value")).to_have_text("-71.4 °C", timeout=2000)
    assert page.evaluate("window.__notReloaded") is True


@pytest.fixture(scope="module")
def operator(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    context = signed_in(browser, site, "olga")
    try:
        yield context
    finally:
        context.close()


def test_alarm_is_acknowledged_by_an_operator_and_audited(
    operator: BrowserContext, site: Site
) -> None:
    page = operator.new_page()
    page.goto(site.url + "/alarms")
    expect(page.locator("#live")).to_have_text("● live")
    alarm_id = site.raise_alarm("fridge-2.temp", 9.4, 8.0)
    card = page.locator('#active article[data-subject="fridge-2.temp"]')
    expect(card.locator(f'li[data-alarm-id="{alarm_id}"]')).to_be_visible()  # arrived live
    comment = "Door left open after restock <b>closed</b>; '; DROP TABLE alarm_acks;--"
    card.get_by_label("Comment").fill(comment)
    card.get_by_role("button", name="Acknowledge").click()
    expect(card.locator(".ack-comment")).to_have_text(comment)
    expect(card.locator(".ack-by")).to_have_text("olga")
    assert card.locator("b").count() == 0
    page.goto(site.url + "/audit")
    row = page.locator("#audit tbody tr").filter(has_text="alarm.ack").first
    expect(row).to_contain_text("user:olga")
    expect(row).to_contain_text(alarm_id)
    expect(row).to_contain_text("Door left open")
    expect(page.locator("#chain")).to_contain_text("Chain intact")
    page.close()


def test_viewer_has_no_acknowledge_button_and_the_api_refuses(browser: Browser, site: Site) -> None:
    alarm_id = site.raise_alarm("ult-F14.temp", -65.0, -70.0)
    context = signed_in(browser, site, "victor")
    try:
        page = context.new_page()
        page.goto(site.url + "/alarms")
        card = page.locator('#active article[data-subject="ult-F14.temp"]')
        expect(card.locator(f'li[data-alarm-id="{alarm_id}"]')).to_be_visible()
        expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)
        client, csrf = site.login("victor")
        r = client.post(
            f"/api/v1/alarms/{alarm_id}/ack",
            json={"comment": "I should not be able to"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 403
    finally:
        context.close()


@pytest.mark.slow
def test_sensor_page_30_day_chart_over_1m_readings_gets_few_points(
    admin_page: Page, site: Site
) -> None:
    sensor = "ult-F14.temp"
    insert_million(site.sqlite_path(), sensor, end=time.time())
    page = admin_page
    page.goto(site.url + f"/sensor?id={sensor}")
    expect(page.locator("#twin")).to_contain_text("freezer")
    with page.expect_response(
        lambda r: "/readings" in r.url and _span(r.url) == 30 * 86400
    ) as info:
        page.get_by_role("button", name="30 d").click()
    body = info.value.json()
    points = sum(3 for _ in body["buckets"])  # min, avg and max per bucket
    assert 0 < points < 5000
    assert sum(b["count"] for b in body["buckets"]) >= 1_000_000
    expect(page.locator("#chart canvas")).to_have_count(1)
    expect(page.locator("#chart-note")).to_contain_text("readings in")
    # the report over 1 M readings is computed in SQL (central/excursions.py): allow it time
    expect(page.locator("#report")).to_contain_text("Mean kinetic temperature", timeout=30_000)


def test_xss_sensor_page_shows_the_id_as_text(admin_page: Page, site: Site) -> None:
    page = admin_page
    page.goto(site.url + "/sensor?id=" + XSS_ID.replace('"', "%22").replace(" ", "%20"))
    expect(page.locator("#title")).to_have_text(XSS_ID)
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.__xss") is None


def test_lost_connection_is_shown_and_recovers(admin_page: Page, site: Site) -> None:
    page = admin_page
    page.goto(site.url + "/")
    expect(page.locator("#live")).to_have_text("● live")
    site.central.server.stop()
    try:
        expect(page.locator("#live")).to_contain_text("connection lost", timeout=10_000)
    finally:
        site.central.server.start()
    expect(page.locator("#live")).to_have_text("● live", timeout=20_000)
