"""Operating notifications: SIGHUP reloads (a bad file keeps the running config), the test
message, the heartbeat, central's own gateway_offline and analytics predictions, metrics,
and users' contact details."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import orjson

from runtime import events as ev
from sim.mailcatcher import MailCatcher
from tests.central.conftest import gateway_name, run_cli, start_central
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


def _audit(central: Any, action: str) -> list[dict[str, Any]]:
    response = central.get("/api/v1/audit", role="admin")
    assert response.status_code == 200, response.text
    return [e for e in response.json()["entries"] if e["action"] == action]


def test_sighup_reloads_and_a_bad_file_keeps_the_running_config(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, group_wait="0s"))
    with central_with(tmp_path, config) as central:
        create_user(central, "ada", "ada@lab.example")
        lab = Lab(central)
        lab.describe("ult-A.temp", "ult-B.temp")
        config.write_text(config.read_text().replace("security: none", "security: nope"))
        assert central.server.proc is not None
        central.server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _audit(central, "notifications.reload"), timeout=10)
        refused = orjson.loads(_audit(central, "notifications.reload")[0]["new_value"])
        assert refused["ok"] is False and f"{config}:" in refused["error"]
        assert f"{config}:" in central.server.log.read_text()  # file:line:col logged
        lab.raise_alarm("ult-A.temp")
        wait_until(lambda: any("ada@lab.example" in m.recipients for m in mail.messages))
        config.write_text(
            basic_config(mail.port, group_wait="0s").replace(
                '[ada, "bob@lab.example"]', '["carol@lab.example"]'
            )
        )
        central.server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(_audit(central, "notifications.reload")) == 2, timeout=10)
        lab.raise_alarm("ult-B.temp")
        wait_until(lambda: any("carol@lab.example" in m.recipients for m in mail.messages))


def test_admins_send_a_test_message_which_is_logged_and_audited(
    tmp_path: Path, mail: MailCatcher, hooks: HookReceiver
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, hooks.url))
    with central_with(tmp_path, config) as central:
        sent = central.post(
            "/api/v1/notifications/test",
            {"channel": "mail", "to": ["ops@lab.example"]},
            role="admin",
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["state"] == "sent"
        forbidden = central.post(
            "/api/v1/notifications/test", {"channel": "mail", "to": []}, role="operator"
        )
        assert forbidden.status_code == 403
        hook = central.post("/api/v1/notifications/test", {"channel": "chat"}, role="admin")
        assert hook.status_code == 200, hook.text
        rows = notifications(central)
        assert [r["event"] for r in rows[:2]] == ["test", "test"]
        assert len(_audit(central, "notification.test")) == 2
        metrics = central.client.get(f"{central.url}/metrics").text
    assert [m.recipients for m in mail.messages] == [("ops@lab.example",)]
    assert hooks.hooks()[0].signed
    assert 'tracseq_central_notifications_total{channel="mail",outcome="sent"} 1.0' in metrics
    assert "tracseq_central_notification_delay_seconds" in metrics


def test_the_heartbeat_url_is_called_while_central_is_healthy(
    tmp_path: Path, hooks: HookReceiver
) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    url = f"{hooks.url}/ping/abc"
    with start_central(db, "sqlite", tmp_path, "--heartbeat-url", url):
        wait_until(lambda: any(h.path == "/ping/abc" for h in hooks.hooks()), timeout=15)


GATEWAYS_AND_PREDICTIONS = """\
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {port}, security: none, from: alarms@lab.example}}
defaults: {{group_wait: 0s, base_url: "http://central.example"}}
policies:
  - name: gateways
    match: {{rule: gateway_offline}}
    levels: [{{after: 0s, notify: [{{channel: mail, to: ["it@lab.example"]}}]}}]
  - name: predictions
    match: {{event: prediction, kind: freezer}}
    levels: [{{after: 0s, notify: [{{channel: mail, to: ["early@lab.example"]}}]}}]
"""


def test_gateway_offline_and_predictions_go_through_the_policies(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, GATEWAYS_AND_PREDICTIONS.format(port=mail.port))
    with central_with(tmp_path, config, None, "sqlite", "--offline-after", "1s") as central:
        lab = Lab(central)
        lab.describe("ult-P.temp")  # then silent: gateway_offline after 1 s
        wait_until(lambda: any("it@lab.example" in m.recipients for m in mail.messages), 20)
        offline = next(m for m in mail.messages if "it@lab.example" in m.recipients)
        assert "gateway_offline" in offline.text and lab.gateway in offline.text
        name = "an-" + gateway_name()
        code, out, err = run_cli("token", "create", name, "--analytics", "--db", central.db)
        assert code == 0, err
        prediction = ev.CloudEvent(
            id=f"{name}:prediction:1",
            source=f"tracseq-analytics/{name}",
            type=ev.ANALYTICS_PREDICTION,
            time=time.time(),
            subject="ult-P.temp",
            data={
                "sensor": "ult-P.temp",
                "rule": "high",
                "threshold": -70.0,
                "predicted_at": ev.format_time(time.time() + 3600),
                "slope_per_h": 4.0,
                "action": "raised",
                "episode": 1,
            },
        ).to_dict()
        assert central.ingest(out.split()[-1], [prediction]).status_code == 200
        wait_until(lambda: any("early@lab.example" in m.recipients for m in mail.messages), 20)
    early = next(m for m in mail.messages if "early@lab.example" in m.recipients)
    assert "EARLY WARNING" in early.subject and "ult-P.temp" in early.text


def test_users_have_email_and_phone_from_the_cli_and_the_api(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    (tmp_path / "pw").write_text("a long enough password\n")
    code, _, err = run_cli(
        "user", "create", "ada", "--role", "operator", "--password-file", str(tmp_path / "pw"),
        "--email", "ada@lab.example", "--phone", "+46 70 123 45 67", "--db", db,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(
        "user", "create", "eve", "--role", "viewer", "--password-file", str(tmp_path / "pw"),
        "--email", "not an address", "--db", db,
    )  # fmt: skip
    assert code == 2 and "email" in err
    with start_central(db, "sqlite", tmp_path) as central:
        users = central.get("/api/v1/users", role="admin").json()["users"]
        ada = next(u for u in users if u["name"] == "ada")
        assert (ada["email"], ada["phone"]) == ("ada@lab.example", "+46 70 123 45 67")
        headers = {"authorization": f"Bearer {central.key('admin')}"}
        changed = central.client.patch(
            f"{central.url}/api/v1/users/ada",
            content=orjson.dumps({"email": "ada@new.example", "phone": None}),
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["email"], changed.json()["phone"]) == ("ada@new.example", None)
        bad = central.client.patch(
            f"{central.url}/api/v1/users/ada",
            content=orjson.dumps({"email": "nope"}),
            headers=headers,
        )
        assert bad.status_code == 400
        assert _audit(central, "user.email")


def test_a_reload_keeps_pending_escalations(tmp_path: Path, mail: MailCatcher) -> None:
    levels = (
        "      - after: 0s\n"
        '        notify: [{channel: mail, to: ["first@lab.example"]}]\n'
        "      - after: 3s\n"
        '        notify: [{channel: mail, to: ["late@lab.example"]}]\n'
    )
    config = write_config(tmp_path, basic_config(mail.port, group_wait="0s", levels=levels))
    with central_with(tmp_path, config) as central:
        lab = Lab(central)
        lab.describe("ult-R.temp")
        alarm_id = lab.raise_alarm("ult-R.temp")
        wait_until(
            lambda: any(
                r["to"] == ["late@lab.example"] and r["state"] == "pending"
                for r in notifications(central, alarm_id=alarm_id)
            ),
            timeout=10,
        )
        # The new file has no second level any more: what was scheduled still goes out.
        first_level = levels.split("      - after: 3s")[0]
        config.write_text(basic_config(mail.port, group_wait="0s", levels=first_level))
        assert central.server.proc is not None
        central.server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _audit(central, "notifications.reload"), timeout=10)
        assert orjson.loads(_audit(central, "notifications.reload")[0]["new_value"])["ok"]
        wait_until(lambda: any("late@lab.example" in m.recipients for m in mail.messages), 20)
