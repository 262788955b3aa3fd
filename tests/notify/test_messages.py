"""What a message says: sensors, value, limit, rule, since, the acknowledge link; the SMS
text fits 160 characters; the demo's notifications file is valid and its catcher keeps mail."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from central.notify import alertmanager
from central.notify.config import load_notifications
from central.notify.messages import AlarmInfo, build
from sim.demo import write_notifications
from sim.mailcatcher import MailCatcher
from tests.servers import free_port, wait_until


def _alarm(i: int, **changes: object) -> AlarmInfo:
    base = AlarmInfo(
        alarm_id=f"lab3:ult-F{i:02d}.temp:high:{i}",
        rule="high",
        sensor=f"ult-F{i:02d}.temp",
        gateway="lab3",
        value=-61.25,
        threshold=-70.0,
        unit="degC",
        since=1_796_000_000.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_message_names_sensor_value_limit_rule_since_and_link() -> None:
    message = build("raised", [_alarm(1)], "https://t.example/", "freezers")
    assert "ult-F01.temp" in message.subject
    for needle in ("high: value -61.25 degC", "limit -70 degC", "since 2026-", "policy freezers"):
        assert needle in message.text
    assert "https://t.example/alarms?ack=lab3:ult-F01.temp:high:1" in message.text


def test_a_grouped_message_lists_every_alarm_and_the_short_text_fits_an_sms() -> None:
    alarms = [_alarm(i) for i in range(40)]
    message = build("raised", alarms, "https://tracseq.lab.example", "freezers")
    assert all(a.sensor and a.sensor in message.text for a in alarms)
    assert "40 alarms" in message.subject
    assert len(message.short) <= 160
    long_name = build("raised", [_alarm(1, sensor="x" * 300)], "https://t.example", "p")
    assert len(long_name.short) <= 160


def test_the_demo_notifications_file_is_valid_and_the_catcher_writes_eml_files(
    tmp_path: Path,
) -> None:
    path = write_notifications(tmp_path, smtp_port=2525, central="http://127.0.0.1:8095")
    config = load_notifications(path)
    assert config.channels["mail"].smtp is not None
    assert [p.name for p in config.policies] == ["every-alarm", "early-warnings"]
    import smtplib

    with MailCatcher(free_port(), tmp_path / "mail") as catcher:
        with smtplib.SMTP("127.0.0.1", catcher.port) as client:
            client.sendmail("a@demo.example", ["b@demo.example"], b"Subject: hi\r\n\r\nbody\r\n")
        wait_until(lambda: list((tmp_path / "mail").glob("*.eml")))
    assert b"Subject: hi" in next((tmp_path / "mail").glob("*.eml")).read_bytes()


def test_an_alertmanager_post_about_a_cleared_alarm_resolves_it() -> None:
    cleared = _alarm(1, cleared_at=1_796_000_600.0)
    late_raise = build("raised", [cleared], "https://t.example", "freezers")
    (alert,) = alertmanager.alerts(late_raise, "https://t.example", "freezers", 1_796_000_900.0)
    assert alert["endsAt"].startswith("2026-")  # the clear's time: not firing again
    active = build("raised", [_alarm(2)], "https://t.example", "freezers")
    (alert,) = alertmanager.alerts(active, "https://t.example", "freezers", 1_796_000_900.0)
    assert "endsAt" not in alert
