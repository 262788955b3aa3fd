"""The edge's fallback e-mail against a real SMTP server (aiosmtpd).

An alarm that central has not confirmed (the `sync` cursor has not passed its event) within
`notify.after` is mailed once, and recorded as `org.tracseq.alarm.notified`; once central
confirms, nothing is sent. Restarts keep both promises (state in the durable log).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from edge.daemon import Daemon
from edge.entry import Entry
from edge.fallback_notify import FallbackNotifier
from edge.log import DurableLog
from edgeconfig import Config, load_config, parse_config
from runtime import events
from runtime.clock import ManualClock
from tests.central.conftest import run_cli
from tests.drivers.modbus_peer import ModbusPeer
from tests.edge.alarm_rig import Rig, wait_for
from tests.edge.smtp_catcher import Login, smtp_server
from tests.servers import Server, free_port


def _notify(smtp_port: int, after: str = "5m") -> str:
    return f"""
notify:
  after: {after}
  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, from: "edge <edge@lab.example>"}}
  to: ["oncall@lab.example", "second@lab.example"]
"""


def _rig_config(smtp_port: int) -> Config:
    text = f"""
gateway: {{id: gw-mail}}
connections:
  broker: {{mqtt: {{url: "mqtt://127.0.0.1:1"}}}}
sensors:
  - {{id: ult-1.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: t/ult-1}}, alarms: {{high: {{above: -70}}}}}}
  - {{id: ult-2.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: t/ult-2}}, alarms: {{high: {{above: -70}}}}}}
{_notify(smtp_port)}"""
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


@contextlib.asynccontextmanager
async def _notifier(rig: Rig) -> AsyncIterator[FallbackNotifier]:
    assert rig.log is not None
    notifier = FallbackNotifier(rig.config, rig.log, rig.clock)
    task = asyncio.create_task(notifier.run())
    try:
        await wait_for(lambda: notifier.health().ready)
        yield notifier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _raise(rig: Rig) -> int:
    rig.clock.advance(1.0)
    await rig.reading("ult-1.temp", -60.0)
    raised = [a for a in await rig.alarms() if a.type == events.ALARM_RAISED]
    return raised[-1].seq


async def _notified(rig: Rig, expect: int = 0) -> list[dict[str, object]]:
    """The alarm.notified records in the log, once there are at least `expect` of them."""
    assert rig.log is not None
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        stored = await rig.log.read(0, 100_000)
        found = [s.data for s in stored if s.type == events.ALARM_NOTIFIED]
        if len(found) >= expect or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.01)


async def test_an_alarm_central_never_confirmed_is_mailed_once_even_across_a_restart(
    tmp_path: Path,
) -> None:
    async with smtp_server() as (controller, catcher):
        rig = await Rig(tmp_path, config=_rig_config(controller.port)).open()
        try:
            async with _notifier(rig) as notifier:
                await _raise(rig)
                await wait_for(lambda: len(notifier.pending) == 1)
                await rig.advance(290.0)
                assert catcher.messages == []  # not before `after`
                await rig.advance(15.0)
                await wait_for(lambda: len(catcher.messages) == 1)
                await wait_for(lambda: not notifier.pending)

            message = catcher.messages[0]
            assert message["Subject"] == "[TracSeq gw-mail] ALARM ult-1.temp high"
            assert catcher.recipients[0] == ["oncall@lab.example", "second@lab.example"]
            body = message.get_content()
            assert "ult-1.temp: high alarm, value -60.0, limit -70.0" in body
            alarm_id = (await rig.alarms())[0].data["alarm_id"]
            assert await _notified(rig, expect=1) == [
                {
                    "alarm_id": alarm_id,
                    "channel": "email",
                    "to": ["oncall@lab.example", "second@lab.example"],
                }
            ]

            await rig.restart()
            async with _notifier(rig) as notifier:
                assert notifier.pending == {}  # the record in the log says it was sent
                await rig.advance(600.0)
                assert len(catcher.messages) == 1
        finally:
            await rig.stop()


async def test_a_restart_before_the_deadline_still_mails_once(tmp_path: Path) -> None:
    async with smtp_server() as (controller, catcher):
        rig = await Rig(tmp_path, config=_rig_config(controller.port)).open()
        try:
            async with _notifier(rig) as notifier:
                await _raise(rig)
                await wait_for(lambda: len(notifier.pending) == 1)
                await rig.advance(60.0)
            await rig.restart()
            async with _notifier(rig) as notifier:
                assert len(notifier.pending) == 1  # taken back from the log
                await rig.advance(300.0)
                await wait_for(lambda: len(catcher.messages) == 1)
                await wait_for(lambda: not notifier.pending)
                await rig.advance(600.0)
                assert len(catcher.messages) == 1
            assert len(await _notified(rig, expect=1)) == 1
        finally:
            await rig.stop()


async def test_no_mail_once_central_confirmed_the_alarm(tmp_path: Path) -> None:
    async with smtp_server() as (controller, catcher):
        rig = await Rig(tmp_path, config=_rig_config(controller.port)).open()
        assert rig.log is not None
        try:
            async with _notifier(rig) as notifier:
                seq = await _raise(rig)
                await rig.log.advance("sync", seq)  # central answered 200 for the raise
                await rig.advance(400.0)
                await wait_for(lambda: notifier.health().counters["confirmed"] == 1)
                assert not notifier.pending
            assert catcher.messages == []
            assert await _notified(rig) == []
        finally:
            await rig.stop()


async def test_smtp_down_at_the_deadline_is_retried_until_it_accepts(tmp_path: Path) -> None:
    port = free_port()
    rig = await Rig(tmp_path, config=_rig_config(port)).open()
    try:
        async with _notifier(rig) as notifier:
            await _raise(rig)
            await rig.advance(310.0)
            await wait_for(lambda: notifier.health().state == "degraded")
            assert f"smtp 127.0.0.1:{port}" in notifier.health().detail
            async with smtp_server(port) as (_, catcher):
                while not catcher.messages:  # each step lets a backoff retry fall due
                    await rig.advance(5.0)
                    await asyncio.sleep(0.01)
                await wait_for(lambda: notifier.health().ready)
                assert len(catcher.messages) == 1
    finally:
        await rig.stop()


async def test_alarms_falling_due_close_together_share_one_message(tmp_path: Path) -> None:
    async with smtp_server() as (controller, catcher):
        rig = await Rig(tmp_path, config=_rig_config(controller.port)).open()
        try:
            async with _notifier(rig) as notifier:
                await _raise(rig)
                await rig.advance(20.0)
                await rig.reading("ult-2.temp", -60.0)
                await wait_for(lambda: len(notifier.pending) == 2)
                await rig.advance(285.0)  # the first is due; the second 20 s later
                await wait_for(lambda: not notifier.pending)
                assert len(catcher.messages) == 1
            message = catcher.messages[0]
            assert message["Subject"] == "[TracSeq gw-mail] 2 alarms: ult-1.temp, ult-2.temp"
            assert len(await _notified(rig, expect=2)) == 2
        finally:
            await rig.stop()


# AUTH over plain text is what this loopback test wants; aiosmtpd warns about it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_without_sync_every_alarm_is_mailed_with_smtp_auth(tmp_path: Path) -> None:
    login = Login("edge", "pw-from-file")
    (tmp_path / "smtp.pw").write_text("pw-from-file\n")
    async with smtp_server(login=login) as (controller, catcher):
        text = f"""
gateway: {{id: gw-alone}}
notify:
  after: 1m
  smtp: {{host: 127.0.0.1, port: {controller.port}, security: none, from: edge@lab.example,
         username: edge, password_file: smtp.pw}}
  to: oncall@lab.example
"""
        config = parse_config(text, "sensors.yaml", base_dir=tmp_path)
        clock = ManualClock()
        log = DurableLog.open(tmp_path / "log.db")  # no sync: no cursor central could move
        notifier = FallbackNotifier(config, log, clock)
        task = asyncio.create_task(notifier.run())
        try:
            await wait_for(lambda: notifier.health().ready)
            data = {"rule": "offline", "value": 120.0, "threshold": 120.0, "alarm_id": "a-1",
                    "since": events.format_time(clock.time())}  # fmt: skip
            await log.append([Entry(events.ALARM_RAISED, "room-1.temp", None, clock.time(), data)])
            await wait_for(lambda: len(notifier.pending) == 1)
            clock.advance(61.0)
            await wait_for(lambda: len(catcher.messages) == 1)
            assert login.logins == ["edge"]
            assert catcher.recipients == [["oncall@lab.example"]]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await log.close()


# --- the daemon with a real central: down, then up ------------------------------------


def _daemon_config(
    tmp_path: Path, smtp: Controller, peer: ModbusPeer, central_port: int, token: str
) -> Config:
    (tmp_path / "gateway.token").write_text(token + "\n")
    path = tmp_path / "sensors.yaml"
    path.write_text(f"""
gateway: {{id: gw-fallback, data_dir: ./var, listen: 127.0.0.1:{free_port()}}}
sync: {{url: "http://127.0.0.1:{central_port}", token_file: ./gateway.token, interval: 100ms}}
connections:
  plc: {{modbus: {{url: "tcp://127.0.0.1:{peer.port}", timeout: 200ms}}}}
sensors:
  - {{id: ult-3.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: plc, register: holding 0, type: int16, poll: 100ms}},
     alarms: {{high: {{above: 50}}}}}}
{_notify(smtp.port, after="1s")}""")
    return load_config(path)


async def _notify_counters(config: Config) -> dict[str, int]:
    listen = config.gateway.listen
    try:
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://{listen.host}:{listen.port}/readyz")).json()
    except httpx.HTTPError:
        return {}
    notify = body["components"].get("notify", {})
    return {k: notify[k] for k in ("pending", "sent", "confirmed") if k in notify}


async def _until(probe: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _daemon(config: Config) -> AsyncIterator[Daemon]:
    daemon = Daemon(config)
    task = asyncio.create_task(daemon.serve())
    try:
        yield daemon
    finally:
        daemon._stop.set()
        await task


async def test_daemon_mails_once_while_central_is_down_and_central_stores_the_record(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    code, out, err = await asyncio.to_thread(run_cli, "token", "create", "gw-fallback", "--db", db)
    assert code == 0, err
    token = out.split()[-1]
    central_port = free_port()  # nothing listens here yet: central is down
    central = Server(
        [sys.executable, "-m", "edge", "central", "--db", db, "--listen",
         f"127.0.0.1:{central_port}", "--log-format", "text"],
        central_port, tmp_path, tmp_path / "central.log",
    )  # fmt: skip
    peer = ModbusPeer()
    await peer.start_tcp(free_port())

    async def stored_notices() -> int:
        with contextlib.closing(sqlite3.connect(tmp_path / "central.db")) as conn:
            query = "SELECT COUNT(*) FROM events WHERE type = ?"
            return int(conn.execute(query, (events.ALARM_NOTIFIED,)).fetchone()[0])

    try:
        async with smtp_server() as (controller, catcher):
            down = tmp_path / "down"
            down.mkdir()
            config = _daemon_config(down, controller, peer, central_port, token)
            async with _daemon(config):
                await peer.set(1, "holding 0", [80])
                await _until(
                    lambda: _has(config, "sent"), "no fallback mail while central was down"
                )
                assert len(catcher.messages) == 1
                assert "ult-3.temp" in str(catcher.messages[0]["Subject"])
                await asyncio.to_thread(central.start)  # central is back: the record syncs
                await _until(lambda: _equals(stored_notices, 1), "central lacks the notice")

            # Central up from the start: it confirms the alarm in time, nobody is mailed.
            await peer.set(1, "holding 0", [0])
            up = tmp_path / "up"
            up.mkdir()
            config = _daemon_config(up, controller, peer, central_port, token)
            async with _daemon(config):
                await peer.set(1, "holding 0", [80])
                await _until(lambda: _has(config, "confirmed"), "central never confirmed")
            assert len(catcher.messages) == 1  # only the first daemon's
            assert await stored_notices() == 1
    finally:
        await asyncio.to_thread(central.stop)
        await peer.close()


async def _has(config: Config, counter: str) -> bool:
    return (await _notify_counters(config)).get(counter, 0) >= 1


async def _equals(probe: Callable[[], Awaitable[int]], value: int) -> bool:
    return await probe() == value
