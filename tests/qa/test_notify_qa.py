"""QA through the notification channels: an overdue calibration is notified like any alarm."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from sim.mailcatcher import MailCatcher
from tests.notify.conftest import Lab, central_with, create_user, write_config
from tests.qa.test_calibration import record
from tests.servers import wait_until

PASSWORD = "a long enough password"


def _config(smtp_port: int, rest: str) -> str:
    return (
        "channels:\n"
        "  mail:\n"
        f"    smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        '           from: "TracSeq <qa@lab.example>", timeout: 5s}\n'
        'defaults: {group_wait: 0s, base_url: "https://tracseq.lab.example"}\n' + rest
    )


CALIBRATION_POLICY = (
    "policies:\n"
    "  - name: metrology\n"
    "    match: {rule: calibration_due}\n"
    "    levels:\n"
    '      - {after: 0s, notify: [{channel: mail, to: ["metrology@lab.example"]}]}\n'
)


def test_an_overdue_calibration_is_notified_by_mail_like_an_alarm(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, _config(mail.port, CALIBRATION_POLICY))
    with central_with(tmp_path, config) as central:
        create_user(central, "cal", "cal@lab.example")
        lab = Lab(central)
        lab.describe("ult-F3.temp")
        now = time.time()
        with httpx.Client(base_url=central.url, timeout=30) as client:
            r = client.post("/api/v1/session", json={"username": "cal", "password": PASSWORD})
            headers = {"x-csrf-token": r.json()["csrf_token"]}
            sig = {"username": "cal", "password": PASSWORD, "meaning": "verified", "reason": "cert"}
            body = {**record(now - 86_400, now - 400 * 86_400), "signature": sig}
            r = client.post("/api/v1/sensors/ult-F3.temp/calibrations", json=body, headers=headers)
            assert r.status_code == 201, r.text
        wait_until(lambda: mail.messages)
        sent = mail.messages[0]
        assert sent.recipients == ("metrology@lab.example",)
        assert "ult-F3.temp" in sent.text and "calibration_due" in sent.text
        log = central.get("/api/v1/notifications").json()["notifications"]
        assert [(n["channel"], n["state"]) for n in log] == [("mail", "sent")]
        assert log[0]["alarm_ids"][0].startswith("central:calibration_due:ult-F3.temp:")
        due = time.strftime("%Y-%m-%d %H:%M", time.gmtime(now - 86_400))
        assert f"calibration overdue since {due}" in sent.text
        assert "degC" not in sent.text  # the due date is not a temperature
