"""Open redirect after sign-in (issue 13, item 7), in headless Chromium.

`/login?next=/%09/evil.example/` (also %0a, %0d) passed the page's prefix check, and the
browser's URL parser, which drops tabs and newlines, made it `//evil.example/`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.dashboard.browser import browser
from tests.dashboard.conftest import PASSWORD, Site, seeded_site

__all__ = ["browser"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    with seeded_site(tmp_path_factory.mktemp("redirect"), "sqlite", postgres_url) as s:
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
