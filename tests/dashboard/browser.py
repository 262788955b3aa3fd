"""Headless Debian Chromium driven by Playwright (Playwright cannot download browsers here)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.dashboard.conftest import PASSWORD, Site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    """After `site`: Playwright's sync API runs an event loop in this thread, and the
    set-up's in-process CLI calls use asyncio.run()."""
    with chromium() as b:
        yield b


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright, closed afterwards."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("chromium missing: run `make test` (scripts/ensure-packages installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def signed_in(browser: Browser, site: Site, name: str, **options: object) -> BrowserContext:
    """A browser context with `name`'s session cookie (signed in through the API)."""
    options.setdefault("viewport", {"width": 1366, "height": 768})
    context = browser.new_context(**options)  # type: ignore[arg-type]
    client, _ = site.login(name)
    cookie = client.cookies.get("tracseq_session")
    assert cookie
    context.add_cookies([{"name": "tracseq_session", "value": cookie, "url": site.url}])
    return context


def sign_in_with_form(page: Page, site: Site, name: str) -> None:
    page.goto(site.url + "/")
    page.wait_for_url("**/login**")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url + "/")
