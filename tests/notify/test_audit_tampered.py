"""`audit_tampered` (central/trail.py) is a rule the notification policies accept, and a
tampered audit trail reaches the people its policy names (issue 13 with issue 14)."""

from __future__ import annotations

from pathlib import Path

from sim.mailcatcher import MailCatcher
from tests.central.conftest import run_cli
from tests.notify.conftest import central_with, write_config
from tests.security.test_audit_trail import KEY, rechain
from tests.servers import wait_until

POLICY = """\
channels:
  mail:
    smtp: {{host: 127.0.0.1, port: {port}, security: none, from: alarms@lab.example}}
defaults: {{group_wait: 0s, base_url: "http://central.example"}}
policies:
  - name: records
    match: {{rule: audit_tampered}}
    levels: [{{after: 0s, notify: [{{channel: mail, to: ["records@lab.example"]}}]}}]
"""


def test_a_policy_on_audit_tampered_is_accepted_and_notified(
    tmp_path: Path, mail: MailCatcher
) -> None:
    config = write_config(tmp_path, POLICY.format(port=mail.port))
    code, _, err = run_cli("notifications", "check", str(config))
    assert code == 0, err
    key = tmp_path / "audit.key"
    key.write_bytes(KEY)
    extra = ("--audit-key", str(key), "--audit-checkpoint-every", "200ms")
    with central_with(tmp_path, config, None, "sqlite", *extra) as central:
        for name in ("one", "two", "three"):  # audited: rows for a checkpoint to vouch for
            assert central.post("/api/v1/tokens", {"gateway": name}, role="admin").is_success

        def checkpointed() -> bool:
            chain = central.get("/api/v1/audit", role="admin").json()["chain"]
            return bool(chain["checkpoint"]) and chain["checkpoint"]["rows"] >= 3

        wait_until(checkpointed, 20)
        assert not mail.messages  # nothing is wrong yet
        rechain(central.db, 1, "edited")  # the chain alone still verifies
        wait_until(lambda: any("records@lab.example" in m.recipients for m in mail.messages), 20)
    message = next(m for m in mail.messages if "records@lab.example" in m.recipients)
    assert "audit_tampered" in message.text and "failed verification" in message.text
