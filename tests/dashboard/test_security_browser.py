"""Security of the dashboard pages in headless Chromium (issue 13, items 7 and 12).

`/login?next=/%09/evil.example/` (also %0a, %0d) passed the page's prefix check, and the
browser's URL parser, which drops tabs and newlines, made it `//evil.example/`. An API key
may acknowledge "by" any name: the alarms page shows the key beside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.browser import browser, signed_in
from tests.dashboard.conftest import PASSWORD, Site, seeded_site

__all__ = ["browser"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    with seeded_site(tmp_path_factory.mktemp("browser-sec"), "sqlite", postgres_url) as s:
        s.central.key("operator")  # now: the CLI runs asyncio, which the browser's loop forbids
        yield s


@pytest.mark.parametrize(
    "next_",
    [
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "/%0d/evil.example/",
        "//evil.example/",
        "https://evil.example/",
        "/%5C/evil.example/",
        "/.//evil.example/",
        "javascript:alert(1)",
    ],
)
def test_sign_in_never_redirects_to_another_origin(
    browser: Browser, site: Site, next_: str
) -> None:
    """Issue 13.7: `next` is resolved against the page's origin; same-origin paths only.
    Requests that leave loopback are aborted, so a failing check cannot reach the net."""
    context = browser.new_context()
    local = site.url
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login?next={next_}")
        page.get_by_label("User name").fill("victor")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
        assert page.url == site.url + "/"
    finally:
        context.close()


def test_sign_in_follows_a_same_origin_next(browser: Browser, site: Site) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login?next=%2Falarms%3Fstate%3Dall")
        page.get_by_label("User name").fill("victor")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site.url}/alarms?state=all", timeout=10_000)
    finally:
        context.close()


def test_the_alarms_page_shows_who_really_acknowledged(browser: Browser, site: Site) -> None:
    """Issue 13.12: an operator API key acknowledged "by" anyone; the page shows the key."""
    alarm_id = site.raise_alarm("fridge-2.temp", 9.4, 8.0)
    r = site.central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "olga", "comment": "checked"})
    assert r.status_code == 200 and r.json()["actor"].startswith("apikey:")
    context = signed_in(browser, site, "victor")
    try:
        page = context.new_page()
        page.goto(f"{site.url}/alarms")
        card = page.locator(f'[data-alarm-id="{alarm_id}"]')  # an active alarm's item
        expect(card.locator(".ack-by")).to_have_text("olga")
        expect(card.locator(".ack-actor")).to_have_text(f" (sent by {r.json()['actor']})")
    finally:
        context.close()
