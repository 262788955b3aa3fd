"""Alarms reach people: mail and webhook on raise, repeats and escalation until the ack,
the acknowledged notice, grouping of a storm, retries while SMTP is down, and a crash."""

from __future__ import annotations

import signal
from pathlib import Path

from sim.mailcatcher import MailCatcher
from tests.notify.conftest import (
    HookReceiver,
    Lab,
    basic_config,
    central_with,
    create_user,
    notifications,
    write_config,
)
from tests.servers import wait_until


def _to(mail: MailCatcher, address: str) -> list[str]:
    return [m.text for m in mail.messages if address in m.recipients]


def test_a_raised_alarm_arrives_by_mail_and_signed_webhook(
    tmp_path: Path, mail: MailCatcher, hooks: HookReceiver
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, hooks.url))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        lab.describe("ult-F12.temp")
        alarm_id = lab.raise_alarm("ult-F12.temp", value=-61.5)
        wait_until(lambda: _to(mail, "ada@lab.example") and _to(mail, "bob@lab.example"))
        wait_until(lambda: hooks.hooks())
    text = _to(mail, "ada@lab.example")[0]
    for needle in ("ult-F12.temp", "-61.5 degC", "-70 degC", "high", "since 20"):
        assert needle in text
    assert f"https://tracseq.lab.example/alarms?ack={alarm_id}" in text
    hook = hooks.hooks()[0]
    assert hook.signed, "X-TracSeq-Signature must be the HMAC-SHA256 of the body"
    assert isinstance(hook.body, dict)
    assert hook.body["alarms"][0]["type"] == "org.tracseq.alarm.raised"
    assert hook.body["alarms"][0]["data"]["alarm_id"] == alarm_id
    assert len(hook.body["short"]) <= 160
    assert "ult-F12.temp" in hook.body["text"]


ESCALATING = (
    "      - after: 0s\n"
    "        notify: [{channel: mail, to: [ada]}]\n"
    "        repeat: 1s\n"
    "      - after: 2s\n"
    '        notify: [{channel: mail, to: ["boss@lab.example"]}]\n'
)


def test_repeats_and_escalation_run_until_the_ack_which_is_announced(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, levels=ESCALATING, group_wait="0s"))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        lab.describe("ult-F3.temp")
        alarm_id = lab.raise_alarm("ult-F3.temp")
        wait_until(lambda: len(_to(mail, "ada@lab.example")) >= 2, timeout=20)  # a repeat
        wait_until(lambda: _to(mail, "boss@lab.example"), timeout=20)  # level 2
        ack = central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "ada", "comment": "on it"})
        assert ack.status_code in (200, 201), ack.text

        def acknowledged_told() -> bool:
            return any("ACKNOWLEDGED" in t for t in _to(mail, "ada@lab.example")) and any(
                "ACKNOWLEDGED" in t for t in _to(mail, "boss@lab.example")
            )

        wait_until(acknowledged_told, timeout=20)
        rows = notifications(central, alarm_id=alarm_id)
    assert "STILL ACTIVE" in "".join(_to(mail, "ada@lab.example"))
    assert "acknowledged by ada: on it" in "".join(_to(mail, "boss@lab.example"))
    # Nothing about the alarm is left to send but acknowledgement notices already sent.
    assert not [r for r in rows if r["state"] == "pending"], rows
    assert {r["event"] for r in rows} >= {"raised", "repeat", "acknowledged"}


def test_forty_alarms_within_a_second_are_one_message_per_recipient(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, group_wait="2s"))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        sensors = [f"rack-{i:02d}.temp" for i in range(40)]
        lab.describe(*sensors)
        for start in range(0, 40, 10):  # four requests within the second
            lab.raise_many(
                [(s, f"{lab.gateway}:{s}:storm", -60.0) for s in sensors[start : start + 10]]
            )

        def all_named(address: str) -> bool:
            text = "".join(_to(mail, address))
            return all(s in text for s in sensors)

        wait_until(lambda: all_named("ada@lab.example") and all_named("bob@lab.example"), 20)
    assert 1 <= len(_to(mail, "ada@lab.example")) <= 3
    assert 1 <= len(_to(mail, "bob@lab.example")) <= 3


def test_a_message_waits_for_smtp_to_come_back(tmp_path: Path, mail: MailCatcher) -> None:
    mail.stop()
    config = write_config(tmp_path, basic_config(mail.port, group_wait="0s"))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        lab.describe("ult-F4.temp")
        alarm_id = lab.raise_alarm("ult-F4.temp")

        def failed_once() -> bool:
            rows = notifications(central, alarm_id=alarm_id)
            return any(r["attempts"] >= 1 and r["error"] for r in rows)

        wait_until(failed_once, timeout=20)
        rows = notifications(central, alarm_id=alarm_id)
        assert all(r["state"] in ("failed", "pending") for r in rows)
        mail.start()
        wait_until(lambda: _to(mail, "ada@lab.example") and _to(mail, "bob@lab.example"), 60)
        wait_until(
            lambda: all(r["state"] == "sent" for r in notifications(central, alarm_id=alarm_id)),
            timeout=20,
        )
    assert len(_to(mail, "ada@lab.example")) == 1


def test_kill_9_inside_group_wait_sends_exactly_once_after_restart(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, group_wait="3s"))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        lab.describe("ult-F5.temp")
        alarm_id = lab.raise_alarm("ult-F5.temp")
        wait_until(lambda: notifications(central, alarm_id=alarm_id), timeout=10)
        assert not mail.messages  # still inside group_wait
        central.server.stop(signal.SIGKILL)
        central.server.start()

        def sent() -> bool:
            rows = notifications(central, alarm_id=alarm_id)
            return bool(rows) and all(r["state"] == "sent" for r in rows)

        wait_until(sent, timeout=30)
    assert len(_to(mail, "ada@lab.example")) == 1
    assert len(_to(mail, "bob@lab.example")) == 1
