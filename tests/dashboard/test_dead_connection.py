"""A live connection that dies silently (no FIN, no RST: a NAT or proxy forgot it, the
laptop slept) is noticed by the page from the missing keepalives, shown as lost, and
replaced by a new one that resumes with Last-Event-ID.

Real headless Chromium talks to a real central through a loopback proxy that can stop
forwarding bytes without closing anything (tests/dashboard/blackhole.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.blackhole import BlackHoleProxy
from tests.dashboard.browser import browser
from tests.dashboard.conftest import Site, seeded_site

__all__ = ["browser"]

SENSOR = "ult-F14.temp"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    """The seeded dashboard site, with a keepalive every second on the live stream."""
    workdir = tmp_path_factory.mktemp("dead-connection")
    argv = ("--offline-after", "1h", "--sse-keepalive", "1s")
    with seeded_site(workdir, "sqlite", postgres_url, *argv) as s:
        yield s


@pytest.fixture
def proxy(site: Site) -> Iterator[BlackHoleProxy]:
    with BlackHoleProxy(site.central.server.port) as p:
        yield p


@pytest.fixture
def page(browser: Browser, site: Site, proxy: BlackHoleProxy) -> Iterator[Page]:
    """The fleet view as `ada`, through the proxy."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    client, _ = site.login("ada")
    cookie = client.cookies.get("tracseq_session")
    assert cookie
    context.add_cookies([{"name": "tracseq_session", "value": cookie, "url": proxy.url}])
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def value_of(page: Page, sensor: str):  # type: ignore[no-untyped-def]
    tile = page.locator(".tile").filter(has=page.get_by_text(sensor, exact=True))
    return tile.locator(".tile-value")


def test_silently_dead_connection_is_shown_then_resumes_with_last_event_id(
    page: Page, site: Site, proxy: BlackHoleProxy
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(proxy.url + "/")
    expect(page.locator("#live")).to_have_text("● live")
    site.reading(SENSOR, -71.1)  # gives the page an event id to resume after
    expect(value_of(page, SENSOR)).to_have_text("-71.1 °C")
    page.evaluate("window.__notReloaded = true")
    requests.clear()

    proxy.black_hole()
    # Keepalives every 1 s: silence for 2.5 s is a dead connection (plus the 1 s check).
    expect(page.locator("#live")).to_have_text("○ connection lost — reconnecting…", timeout=10_000)
    site.reading(SENSOR, -72.2)  # stored while the page cannot hear
    expect(page.locator("#live")).to_have_attribute("data-state", "lost")
    expect(value_of(page, SENSOR)).to_have_text("-71.1 °C")

    proxy.restore()
    expect(page.locator("#live")).to_have_text("● live", timeout=40_000)
    # Resumed with Last-Event-ID: the missed reading came from the stream's buffer, and
    # the page neither reloaded nor reset (a reset re-reads the sensor list).
    expect(value_of(page, SENSOR)).to_have_text("-72.2 °C", timeout=10_000)
    assert any("/api/v1/stream?last_event_id=" in url for url in requests)
    assert not [url for url in requests if url.endswith("/api/v1/sensors")]
    assert page.evaluate("window.__notReloaded") is True

    site.reading(SENSOR, -73.3)  # and new events keep coming on the new connection
    expect(value_of(page, SENSOR)).to_have_text("-73.3 °C", timeout=10_000)
    expect(page.locator("#live")).to_have_text("● live")
