"""Two central instances on one PostgreSQL database: each notification goes out once."""

from __future__ import annotations

import collections
from pathlib import Path

from sim.mailcatcher import MailCatcher
from tests.central.conftest import fresh_db, start_central
from tests.notify.conftest import Lab, basic_config, create_user, notifications, write_config
from tests.servers import wait_until


def test_two_instances_send_each_message_once(
    tmp_path: Path, mail: MailCatcher, postgres_url: str
) -> None:
    config = write_config(tmp_path, basic_config(mail.port, group_wait="0s"))
    extra = ("--notifications", str(config))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        fresh_db("postgres", tmp_path, postgres_url) as db,
        start_central(db, "postgres", tmp_path / "a", *extra) as first,
        start_central(db, "postgres", tmp_path / "b", *extra) as second,
    ):
        create_user(first, "ada", "ada@lab.example")
        labs = [Lab(first), Lab(second)]
        alarm_ids = []
        for i in range(20):
            lab = labs[i % 2]
            sensor = f"ult-{i:02d}.temp"
            lab.describe(sensor)
            alarm_ids.append(lab.raise_alarm(sensor))

        def all_sent() -> bool:
            rows = notifications(first, limit=1000)
            linked = {a for r in rows for a in r["alarm_ids"]}
            return set(alarm_ids) <= linked and all(r["state"] == "sent" for r in rows)

        wait_until(all_sent, timeout=60)
        rows = notifications(second, limit=1000)
    ids = collections.Counter(m.message["X-TracSeq-Notification"] for m in mail.messages)
    assert ids and max(ids.values()) == 1, f"sent twice: {[i for i, n in ids.items() if n > 1]}"
    assert set(ids) == {str(r["id"]) for r in rows}
    text = "".join(m.text for m in mail.messages if "ada@lab.example" in m.recipients)
    assert all(f"ult-{i:02d}.temp" in text for i in range(20))
