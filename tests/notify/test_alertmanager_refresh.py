"""Active alarms stay firing in Alertmanager: central posts them again every refresh
interval (here 0.3 s, not a minute) until they clear, to Alertmanager targets only, with
the resolve always last, and again after a restart. A plain HTTP receiver stands in for
Alertmanager so every post can be counted (test_alertmanager.py uses the real one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.mailcatcher import MailCatcher
from tests.central.conftest import BACKENDS, fresh_db
from tests.notify.conftest import HookReceiver, Lab, basic_config, fast_central, write_config
from tests.servers import wait_until

MAIL_AND_AM = '[{channel: mail, to: ["bob@lab.example"]}, {channel: am}]'
LEVELS = f"      - after: 0s\n        notify: {MAIL_AND_AM}\n"


def _config(tmp_path: Path, am: HookReceiver, smtp_port: int) -> Path:
    channels = f'  am:\n    alertmanager: {{url: "{am.url}"}}\n'
    text = basic_config(
        smtp_port, group_wait="0s", levels=LEVELS, also_on="[]", extra_channels=channels
    )
    return write_config(tmp_path, text)


def _posts(am: HookReceiver, alarm_id: str) -> list[dict[str, Any]]:
    """Every alert about `alarm_id` posted to /api/v2/alerts, in the order received."""
    out = []
    for hook in am.hooks():
        if hook.path == "/api/v2/alerts" and isinstance(hook.body, list):
            out += [a for a in hook.body if a["labels"].get("alarm_id") == alarm_id]
    return out


def _firing(am: HookReceiver, alarm_id: str) -> list[dict[str, Any]]:
    return [a for a in _posts(am, alarm_id) if "endsAt" not in a]


def test_an_active_alarm_is_posted_again_until_its_clear_which_comes_last(
    tmp_path: Path, mail: MailCatcher, hooks: HookReceiver
) -> None:
    with fast_central(tmp_path, _config(tmp_path, hooks, mail.port)) as central:
        lab = Lab(central)
        lab.describe("ult-F7.temp", "ult-F8.temp")
        first = lab.raise_alarm("ult-F7.temp")
        wait_until(lambda: len(_firing(hooks, first)) >= 3, timeout=20)  # raise + 2 refreshes

        ack = central.post(f"/api/v1/alarms/{first}/ack", {"by": "ada", "comment": "on it"})
        assert ack.status_code in (200, 201), ack.text
        wait_until(  # acknowledged but still active: still firing, saying who acknowledged
            lambda: any(
                a["annotations"].get("acknowledged_by") == "ada" for a in _firing(hooks, first)
            ),
            timeout=20,
        )

        lab.clear("ult-F7.temp", first)
        wait_until(lambda: len(_posts(hooks, first)) > len(_firing(hooks, first)), timeout=20)
        # Another alarm refreshed twice more: several intervals passed since the clear.
        second = lab.raise_alarm("ult-F8.temp")
        wait_until(lambda: len(_firing(hooks, second)) >= 3, timeout=20)
        wait_until(lambda: len(mail.messages) >= 2, timeout=20)

    posts = _posts(hooks, first)
    assert "endsAt" in posts[-1], "nothing may be posted after the resolve"
    assert sum("endsAt" in a for a in posts) == 1
    assert posts[-1]["annotations"]["acknowledged_by"] == "ada"
    bob = [m for m in mail.messages if "bob@lab.example" in m.recipients]
    assert len(bob) == 2, "refreshes go to Alertmanager only: one e-mail per raise"


@pytest.mark.parametrize("backend", BACKENDS)
def test_refreshing_resumes_after_a_restart(
    tmp_path: Path, mail: MailCatcher, hooks: HookReceiver, postgres_url: str, backend: str
) -> None:
    config = _config(tmp_path, hooks, mail.port)
    with (
        fresh_db(backend, tmp_path, postgres_url) as db,
        fast_central(tmp_path, config, db=db, backend=backend) as central,
    ):
        lab = Lab(central)
        lab.describe("ult-F9.temp")
        alarm_id = lab.raise_alarm("ult-F9.temp")
        wait_until(lambda: _firing(hooks, alarm_id), timeout=20)
        central.server.stop()
        before = len(_firing(hooks, alarm_id))
        central.server.start()
        wait_until(lambda: len(_firing(hooks, alarm_id)) >= before + 2, timeout=20)
        lab.clear("ult-F9.temp", alarm_id)
        wait_until(lambda: "endsAt" in _posts(hooks, alarm_id)[-1], timeout=20)
    assert len([m for m in mail.messages if "bob@lab.example" in m.recipients]) == 1
