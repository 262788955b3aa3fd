"""The Notifications page in headless Chromium: the delivery log with failures in red,
pending escalations, and an admin's test message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from sim.mailcatcher import MailCatcher
from tests.dashboard.browser import chromium, signed_in
from tests.dashboard.conftest import Site, seeded_site
from tests.servers import free_port, wait_until

CONFIG = """\
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {up}, security: none, from: alarms@lab.example}}
  broken:
    smtp: {{host: 127.0.0.1, port: {down}, security: none, from: alarms@lab.example}}
defaults: {{group_wait: 0s}}
policies:
  - name: freezers
    match: {{kind: freezer}}
    levels:
      - after: 0s
        notify:
          - {{channel: mail, to: ["oncall@lab.example"]}}
          - {{channel: broken, to: ["x@lab.example"]}}
      - after: 1h
        notify: [{{channel: mail, to: ["boss@lab.example"]}}]
"""


@pytest.fixture(scope="module")
def mail() -> Iterator[MailCatcher]:
    with MailCatcher(free_port()) as catcher:
        yield catcher


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, mail: MailCatcher
) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("notify-page")
    config = workdir / "notifications.yaml"
    config.write_text(CONFIG.format(up=mail.port, down=free_port()))
    with seeded_site(workdir, "sqlite", postgres_url, "--notifications", str(config)) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as b:
        yield b


def test_the_page_shows_sent_failed_and_pending_and_sends_a_test(
    browser: Browser, site: Site, mail: MailCatcher
) -> None:
    alarm_id = site.raise_alarm("ult-F12.temp", -61.0, -70.0)
    wait_until(lambda: any("oncall@lab.example" in m.recipients for m in mail.messages), 20)
    context = signed_in(browser, site, "ada")
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        page.get_by_role("link", name="Notifications").click()
        page.wait_for_url("**/notifications")
        log = page.locator("#log tbody")
        expect(log.locator("tr", has_text="oncall@lab.example")).to_contain_text("sent")
        failed = log.locator("tr.failed", has_text="x@lab.example")
        expect(failed).to_have_count(1, timeout=15_000)
        expect(failed).to_contain_text("SMTP")
        color = failed.evaluate("el => getComputedStyle(el).color")
        assert color == "rgb(180, 35, 24)"  # --alarm: red
        pending = page.locator("#pending tbody")
        expect(pending.locator("tr", has_text="boss@lab.example")).to_contain_text(alarm_id)
        page.get_by_label("Channel (a name from the notifications file)").fill("mail")
        page.get_by_label("To (e-mail addresses, comma separated; not needed for webhooks)").fill(
            "ops@lab.example"
        )
        page.get_by_role("button", name="Send test message").click()
        expect(page.locator("#test-out")).to_contain_text("sent")
        wait_until(lambda: any("ops@lab.example" in m.recipients for m in mail.messages), 10)
    finally:
        context.close()


def test_viewers_see_the_log_but_no_test_form(browser: Browser, site: Site) -> None:
    context = signed_in(browser, site, "victor")
    page = context.new_page()
    try:
        page.goto(site.url + "/notifications")
        expect(page.locator("#summary")).to_contain_text("pending")
        expect(page.locator("#test-section")).to_be_hidden()
    finally:
        context.close()


def test_admins_set_a_users_email_on_the_users_page(browser: Browser, site: Site) -> None:
    context = signed_in(browser, site, "ada")
    page = context.new_page()
    try:
        page.goto(site.url + "/users")
        page.get_by_label("E-mail of victor").fill("victor@lab.example")
        page.get_by_label("Phone of victor").fill("+46 70 000 00 00")
        row = page.locator("#users tbody tr", has_text="victor")
        row.get_by_role("button", name="Save contact").click()
        expect(page.locator("#users-msg")).to_have_text("contact of victor saved")
    finally:
        context.close()
    client, _ = site.login("ada")
    users = client.get("/api/v1/users").json()["users"]
    victor = next(u for u in users if u["name"] == "victor")
    assert (victor["email"], victor["phone"]) == ("victor@lab.example", "+46 70 000 00 00")
