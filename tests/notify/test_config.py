"""The notifications file: the contract's example is valid; mistakes are located errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from central.notify.config import load_notifications
from runtime.errors import ConfigError
from tests.central.conftest import run_cli

CONTRACT_EXAMPLE = """\
channels:
  mail:
    smtp: {host: smtp.lab.example, port: 587, security: starttls,   # starttls | tls | none
           username: alarms, password_file: smtp.pw,
           from: "TracSeq alarms <alarms@lab.example>"}
  chat:
    webhook: {url: "https://chat.example/hooks/abc", format: json,   # json | slack | teams
              secret_file: hook.secret}
  am:
    alertmanager: {url: "http://alertmanager:9093"}                  # POST /api/v2/alerts
groups:
  cold-room-team: [ada, "bob@lab.example"]      # user names (their profile's email) or addresses
schedules:
  nights: {timezone: Europe/Stockholm,
           windows: [{days: [mon, tue, wed, thu, fri], from: "18:00", to: "08:00"},
                     {days: [sat, sun], from: "00:00", to: "24:00"}]}
defaults: {group_wait: 30s, base_url: "https://tracseq.lab.example"}   # links in messages
policies:
  - name: freezers
    match: {kind: [freezer, ln2], site: "building-a/*", rule: [high, low, rate, offline]}
    levels:
      - after: 0s                                # from the alarm's raise
        notify: [{channel: mail, to: [group:cold-room-team]}, {channel: chat}]
        repeat: 15m                              # again while not acknowledged
      - after: 20m                               # still not acknowledged
        notify: [{channel: mail, to: [ada], schedule: nights}]
    also_on: [acknowledged, cleared]            # tell everyone already notified
  - name: predictions
    match: {event: prediction}                   # analytics: predicted breach (early warning)
    levels: [{after: 0s, notify: [{channel: mail, to: [group:cold-room-team]}]}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "smtp.pw").write_text("s3cret\n")
    (tmp_path / "hook.secret").write_text("hook\n")
    path = tmp_path / "notifications.yaml"
    path.write_text(text)
    return path


def test_the_contract_example_loads_with_its_secrets(tmp_path: Path) -> None:
    config = load_notifications(_write(tmp_path, CONTRACT_EXAMPLE))
    assert config.channels["mail"].smtp is not None
    assert config.channels["mail"].smtp.password == "s3cret"
    assert config.channels["chat"].webhook is not None
    assert config.channels["chat"].webhook.secret == "hook"
    assert config.policies[0].levels[0].repeat == 900
    assert config.policies[0].levels[1].after == 1200
    assert config.defaults.group_wait == 30
    assert [p.match.event for p in config.policies] == ["alarm", "prediction"]
    code, out, _ = run_cli("notifications", "check", str(tmp_path / "notifications.yaml"))
    assert code == 0
    assert "policy freezers" in out


BROKEN = """\
channels:
  mail:
    smtp: {host: smtp.lab.example, security: startls, from: a@b.example}
groups:
  team: [ada]
defaults: {group_wait: 30 sec}
policies:
  - name: freezers
    match: {kind: freezer, colour: blue}
    levels:
      - after: 0s
        notify: [{channel: email, to: [group:night-team]}]
"""


def test_a_bad_file_names_every_problem_with_file_line_col_and_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    with pytest.raises(ConfigError) as caught:
        load_notifications(path)
    lines = str(caught.value).splitlines()
    located = [re.match(r"^(.+):(\d+):(\d+): (.*)$", line) for line in lines]
    assert all(located), lines
    where = {(int(m.group(2)), m.group(4).split(":")[0]) for m in located if m}
    assert (3, "channels.mail.smtp.security") in where  # startls
    assert (6, "defaults.group_wait") in where  # "30 sec"
    assert (9, "policies[0].match.colour") in where  # unknown key
    code, _, err = run_cli("notifications", "check", str(path))
    assert code == 2
    assert f"{path}:3:" in err and "Traceback" not in err


def test_unknown_channel_group_and_unreadable_secret_are_located(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "channels:\n"
        "  chat: {webhook: {url: 'http://127.0.0.1:1/h', secret_file: missing.secret}}\n"
        "policies:\n"
        "  - name: p\n"
        "    levels: [{notify: [{channel: mail, to: [group:nobody]}]}]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_notifications(path)
    text = str(caught.value)
    assert ":2:" in text and "missing.secret" in text
    assert "unknown channel 'mail'" in text
    assert "unknown group 'nobody'" in text


def test_central_refuses_to_start_with_a_bad_file(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    code, _, err = run_cli("--db", f"sqlite:///{tmp_path / 'c.db'}", "--notifications", str(path))
    assert code == 2
    assert f"{path}:3:" in err
