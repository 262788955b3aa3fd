"""The e-mail channel's `security` (starttls, tls) and AUTH against a real aiosmtpd server
with a certificate from a private CA (`ca_file`)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.mailcatcher import MailCatcher
from tests.notify.conftest import Lab, central_with, write_config
from tests.security.tls import Pki, make_pki
from tests.servers import free_port, wait_until

CONFIG = """\
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {port}, security: {security}, username: alarms,
           password_file: smtp.pw, ca_file: {ca}, from: alarms@lab.example}}
defaults: {{group_wait: 0s}}
policies:
  - name: all
    levels: [{{after: 0s, notify: [{{channel: mail, to: ["ada@lab.example"]}}]}}]
"""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return context


@pytest.fixture(params=["starttls", "tls"])
def secured(request: pytest.FixtureRequest, pki: Pki) -> Iterator[tuple[str, MailCatcher]]:
    with MailCatcher(
        free_port(),
        tls=_server_context(pki),
        implicit_tls=request.param == "tls",
        logins={"alarms": "s3cret"},
    ) as catcher:
        yield request.param, catcher


# aiosmtpd counts only STARTTLS as TLS; with implicit TLS the session is encrypted anyway.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_mail_goes_out_encrypted_and_authenticated(
    tmp_path: Path, pki: Pki, secured: tuple[str, MailCatcher]
) -> None:
    security, mail = secured
    (tmp_path / "smtp.pw").write_text("s3cret\n")
    config = write_config(tmp_path, CONFIG.format(port=mail.port, security=security, ca=pki.ca))
    with central_with(tmp_path, config) as central:
        lab = Lab(central)
        lab.describe("ult-S.temp")
        lab.raise_alarm("ult-S.temp")
        wait_until(lambda: mail.messages, timeout=20)
    message = mail.messages[0]
    assert message.login == "alarms"
    assert message.tls
    assert "ult-S.temp" in message.text
