"""Alarm rules end to end: readings committed to a real durable log, the rule engine on a
ManualClock, alarm events read back from the log. Thresholds are the contract example's:
ult-{freezer}.temp high above -70 for 5m clear_below -72, rate 1.0/min, offline 2m;
ln2-dewar-1.level low below 30 for 0s clear_above 35, offline 1m;
freezer-20a.temp offline 5m."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.alarms import RuleEngine, active_alarms
from edge.alarms.store import ALARM_PREFIX
from edge.entry import Entry
from edge.errors import LogError
from edge.log import DurableLog
from edgeconfig import Alarms
from runtime import events
from tests.edge.alarm_rig import Rig, at, kinds, wait_for

ULT = "ult-F12.temp"
LN2 = "ln2-dewar-1.level"


def active_ids(rig: Rig) -> list[str]:
    assert rig.engine is not None
    return [a.alarm_id for a in rig.engine.active_alarms()]


async def door_opening(rig: Rig, minutes: float) -> None:
    """-80 at t=0; the door opens at t=30 (-65) for `minutes`; readings every 45 s;
    the clock moves in 5 s steps so a timer has to fire between readings."""
    await rig.reading(ULT, -80.0)
    next_reading = 30.0
    t = 0.0
    while t < 30 + minutes * 60 + 600:
        if t >= next_reading:
            closed = t >= 30 + minutes * 60
            await rig.reading(ULT, -78.0 if closed else -65.0)
            next_reading += 45.0
        await rig.advance(5.0)
        t += 5.0


def test_door_opening_shorter_than_the_delay_raises_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await door_opening(rig, minutes=3)
        assert await rig.alarms(ULT, "high") == []
        await rig.stop()

    asyncio.run(scenario())


def test_alarm_fires_when_the_delay_expires_without_waiting_for_a_reading(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(ULT, -80.0)
        await rig.advance(30)
        for _ in range(7):  # readings at 30, 75, ..., 300 (door open), none at 330
            await rig.reading(ULT, -65.0)
            await rig.advance(45)
        # now t=345: the delay expired at t=330 (30 + 5m), between two readings
        raised = await rig.alarms(ULT, "high")
        assert kinds(raised) == ["raised"]
        alarm = raised[0]
        assert alarm.received == rig.start + 330, "appended at the 5-minute mark"
        assert alarm.data["since"] == at(rig, 30), "stamped when the condition began"
        assert alarm.data["threshold"] == -70.0
        assert alarm.data["value"] == -65.0
        assert alarm.data["alarm_id"].startswith("lab3-edge-01:ult-F12.temp:high:")
        assert alarm.to_event("lab3-edge-01").type == events.ALARM_RAISED
        assert alarm.data["alarm_id"] in active_ids(rig)

        await rig.reading(ULT, -71.0)  # below the threshold, not below clear_below: stays
        await rig.advance(15)
        assert len(await rig.alarms(ULT, "high")) == 1
        await rig.reading(ULT, -78.0)  # t=360: the door has been closed a while
        both = await rig.alarms(ULT, "high")
        assert kinds(both) == ["raised", "cleared"]
        cleared = both[1].data
        assert cleared["alarm_id"] == alarm.data["alarm_id"]
        assert cleared["since"] == at(rig, 30)
        assert cleared["duration_s"] == 330.0
        assert cleared["value"] == -78.0
        assert alarm.data["alarm_id"] not in active_ids(rig)
        await rig.stop()

    asyncio.run(scenario())


def test_door_opening_longer_than_the_delay_raises_exactly_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await door_opening(rig, minutes=6)
        high = await rig.alarms(ULT, "high")
        assert kinds(high) == ["raised", "cleared"]
        assert high[0].received == rig.start + 330
        assert high[0].data["since"] == at(rig, 30)
        # the door closed at t=390; the first reading after that came at t=390
        assert high[1].data["duration_s"] == 360.0
        await rig.stop()

    asyncio.run(scenario())


def test_noise_at_the_threshold_never_flaps(tmp_path: Path) -> None:
    """-70 +/- 0.3 for an hour, a warm spell, another hour of noise, then cold:
    one raise and one clear in total."""

    async def scenario() -> None:
        rig = await Rig(tmp_path).open()

        async def noise(minutes: int) -> None:
            for i in range(minutes * 2):
                await rig.reading(ULT, -70.0 + (0.3 if i % 2 == 0 else -0.3))
                await rig.advance(30)

        await noise(60)
        assert await rig.alarms(ULT, "high") == []
        for _ in range(12):
            await rig.reading(ULT, -65.0)
            await rig.advance(30)
        assert kinds(await rig.alarms(ULT, "high")) == ["raised"]
        await noise(60)
        assert kinds(await rig.alarms(ULT, "high")) == ["raised"]
        await rig.reading(ULT, -75.0)
        assert kinds(await rig.alarms(ULT, "high")) == ["raised", "cleared"]
        await rig.stop()

    asyncio.run(scenario())


def test_low_alarm_without_delay_does_not_flap_in_noise(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        for i in range(120):  # an hour of 30 +/- 0.3 % every 30 s
            await rig.reading(LN2, 30.0 + (-0.3 if i % 2 == 0 else 0.3))
            await rig.advance(30)
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised"]
        assert low[0].data["value"] == 29.7
        assert low[0].received == rig.start
        await rig.reading(LN2, 80.0)  # refilled
        assert kinds(await rig.alarms(LN2, "low")) == ["raised", "cleared"]
        await rig.stop()

    asyncio.run(scenario())


def test_silent_sensor_raises_offline_and_clears_on_the_next_reading(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(ULT, -80.0)
        await rig.advance(110)
        assert await rig.alarms(ULT, "offline") == []
        await rig.advance(10)  # t=120: silent for `after` (2m)
        offline = await rig.alarms(ULT, "offline")
        assert kinds(offline) == ["raised"]
        assert offline[0].received == rig.start + 120
        assert offline[0].data["since"] == at(rig, 0)
        assert offline[0].data["threshold"] == 120.0
        await rig.advance(80)
        await rig.reading(ULT, -80.1)  # t=200
        offline = await rig.alarms(ULT, "offline")
        assert kinds(offline) == ["raised", "cleared"]
        assert offline[1].data["duration_s"] == 200.0
        assert offline[1].data["value"] == -80.1
        await rig.stop()

    asyncio.run(scenario())


def test_sensors_whose_driver_never_connects_raise_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.advance(300)
        raised = {(a.subject, a.data["rule"]): a.received for a in await rig.alarms()}
        assert raised == {
            ("ln2-dewar-1.level", "offline"): rig.start + 60,
            ("freezer-20a.temp", "offline"): rig.start + 300,
        }, "configured sensors are watched from the start; templates after a first reading"
        await rig.stop()

    asyncio.run(scenario())


def test_restart_with_an_active_alarm_neither_forgets_nor_repeats_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(ULT, -80.0)
        await rig.advance(30)
        for _ in range(8):
            await rig.reading(ULT, -65.0)
            await rig.advance(45)
        first = await rig.alarms(ULT, "high")
        assert kinds(first) == ["raised"]
        alarm_id = first[0].data["alarm_id"]

        await rig.restart()  # t=390
        assert rig.log is not None
        assert alarm_id in [a.alarm_id for a in active_alarms(rig.log.state(ALARM_PREFIX))]
        assert alarm_id in active_ids(rig)
        for _ in range(4):
            await rig.reading(ULT, -64.0)
            await rig.advance(45)
        assert kinds(await rig.alarms(ULT, "high")) == ["raised"], "no duplicate raise"
        await rig.restart()  # t=570
        await rig.reading(ULT, -78.0)
        both = await rig.alarms(ULT, "high")
        assert kinds(both) == ["raised", "cleared"]
        assert both[1].data["alarm_id"] == alarm_id
        assert both[1].data["since"] == at(rig, 30), "the original since"
        assert both[1].data["duration_s"] == 540.0
        assert alarm_id not in [a.alarm_id for a in active_alarms(rig.log.state(ALARM_PREFIX))]
        await rig.stop()

    asyncio.run(scenario())


def test_restart_during_a_delay_does_not_reset_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(ULT, -80.0)
        await rig.advance(30)
        for _ in range(5):  # door open from t=30; readings to t=210
            await rig.reading(ULT, -65.0)
            await rig.advance(45)
        await rig.stop()  # t=255
        rig.clock.advance(20)  # down for 20 s
        await rig.open()
        await rig.reading(ULT, -65.0)  # t=275
        await rig.advance(50)
        assert await rig.alarms(ULT, "high") == []
        await rig.advance(5)  # t=330: 5 minutes after the door opened, downtime included
        high = await rig.alarms(ULT, "high")
        assert kinds(high) == ["raised"]
        assert high[0].received == rig.start + 330
        assert high[0].data["since"] == at(rig, 30)
        await rig.stop()

    asyncio.run(scenario())


def test_reading_committed_while_the_engine_was_down_is_evaluated(tmp_path: Path) -> None:
    """A crash between a reading's commit and its evaluation loses no alarm."""

    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(LN2, 60.0)
        await rig.stop()
        rig.clock.advance(5)
        alone = DurableLog.open(tmp_path / "log.db", cursors=("redis", "sync"))
        now = rig.clock.time()
        await alone.append([Entry(events.READING, LN2, now, now, {"value": 12.0})])
        await alone.close()
        rig.clock.advance(5)
        await rig.open()
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised"]
        assert low[0].data["since"] == at(rig, 5)
        assert low[0].data["value"] == 12.0
        await rig.stop()

    asyncio.run(scenario())


def test_backlog_that_already_held_for_the_delay_raises_at_once(tmp_path: Path) -> None:
    """Readings a broker queued during an outage arrive together: their own times show the
    freezer was warm for 6 minutes, so the alarm does not wait another 5."""

    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        rig.clock.advance(600)
        for minute in range(7):
            await rig.reading(ULT, -65.0, at=rig.start + minute * 60)
        high = await rig.alarms(ULT, "high")
        assert kinds(high) == ["raised"]
        assert high[0].data["since"] == at(rig, 0)
        assert high[0].time == rig.start + 300
        await rig.stop()

    asyncio.run(scenario())


def test_rate_rule_catches_a_compressor_failure_and_ignores_slow_drift(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        value = -80.0
        for step in range(80):  # 40 min, a reading every 30 s
            t = step * 30
            if t < 600:
                value += 0.1  # slow drift: 0.2 degC/min
            elif t < 1200:
                value += 0.75  # compressor failure: 1.5 degC/min
            await rig.reading(ULT, round(value, 2))
            await rig.advance(30)
        rate = await rig.alarms(ULT, "rate")
        assert kinds(rate) == ["raised", "cleared"]
        raised_at, cleared_at = rate[0].time or 0.0, rate[1].time or 0.0
        assert rig.start + 600 < raised_at <= rig.start + 900
        assert rate[0].data["threshold"] == 1.0
        assert rate[0].data["value"] >= 1.0
        assert cleared_at > rig.start + 1200, "clears once the temperature levels off"
        await rig.stop()

    asyncio.run(scenario())


def test_alarm_of_a_rule_removed_from_the_config_is_cleared(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        await rig.reading(LN2, 10.0)
        assert kinds(await rig.alarms(LN2, "low")) == ["raised"]
        sensors = [
            s.model_copy(update={"alarms": Alarms()}) if s.id == LN2 else s
            for s in rig.config.sensors
        ]
        await rig.restart(rig.config.model_copy(update={"sensors": sensors}))
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised", "cleared"]
        assert low[1].data["reason"] == "rule no longer configured"
        assert low[1].data["alarm_id"] == low[0].data["alarm_id"]
        await rig.stop()

    asyncio.run(scenario())


def test_readings_committed_before_the_engine_first_runs_are_evaluated(tmp_path: Path) -> None:
    """Drivers may commit before the engine's task starts on the daemon's first start."""

    async def scenario() -> None:
        rig = Rig(tmp_path)
        the_log = DurableLog.open(tmp_path / "log.db", cursors=("redis", "sync"))
        now = rig.clock.time()
        await the_log.append([Entry(events.READING, "old.temp", now, now, {"value": 1.0})])
        engine = RuleEngine(rig.config, the_log, rig.clock)  # history before this is skipped
        await the_log.append([Entry(events.READING, LN2, now, now, {"value": 12.0})])
        rig.log, rig.engine = the_log, engine
        rig.task = asyncio.create_task(engine.run())
        await wait_for(lambda: engine.health().ready)
        await rig.settle()
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised"]
        await rig.stop()

    asyncio.run(scenario())


def test_alarm_raised_while_the_log_is_full_waits_and_is_committed_once(tmp_path: Path) -> None:
    """The disk fills up (SQLite's page limit on the log's own connection, with nothing the
    log may drop to make room): the offline alarm that falls due then is raised on time
    (active, logged), kept, and committed as soon as the log can write again, with the time
    it fell due, exactly once."""

    async def scenario() -> None:
        rig = await Rig(tmp_path).open()
        assert rig.log is not None and rig.engine is not None
        await rig.reading(ULT, -80.0)
        await rig.advance(100)
        conn = rig.log._conn  # the writer's connection: the limit applies to its writes
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        kept = Entry(events.READING, "filler.temp", None, rig.clock.time(), {"value": 1.0}, True)
        for size in (50, 1):  # kept entries (like alarms) are never dropped to make room
            with pytest.raises(LogError):
                for _ in range(10_000):
                    await rig.log.append([kept] * size)
        rig.clock.advance(25)  # t=125: the offline alarm fell due at t=120
        await wait_for(lambda: rig.engine is not None and not rig.engine.health().ready)
        assert await rig.alarms(ULT, "offline") == []
        assert rig.task is not None and not rig.task.done(), "the engine must not give up"
        engine = rig.engine
        await wait_for(lambda: ULT in [a.sensor for a in engine.active_alarms()])
        conn.execute("PRAGMA max_page_count = 1073741823")
        for _ in range(100):  # the retry's backoff sleeps on the manual clock
            if await rig.alarms(ULT, "offline"):
                break
            rig.clock.advance(1)
            await asyncio.sleep(0.01)
        await rig.settle()
        offline = await rig.alarms(ULT, "offline")
        assert kinds(offline) == ["raised"]
        assert offline[0].received == rig.start + 125  # when it fell due, not when committed
        assert offline[0].data["since"] == at(rig, 0)
        assert rig.engine.health().ready
        await rig.stop()

    asyncio.run(scenario())


def test_engine_started_on_a_full_log_is_degraded_then_ready(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.log = DurableLog.open(tmp_path / "log.db", cursors=("redis", "sync"))
        conn = rig.log._conn
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        kept = Entry(events.READING, "filler.temp", None, rig.clock.time(), {"value": 1.0}, True)
        for size in (50, 1):
            with pytest.raises(LogError):
                for _ in range(10_000):
                    await rig.log.append([kept] * size)
        with pytest.raises(LogError):  # the state table's pages too (the checkpoint's)
            for i in range(10_000):
                await rig.log.put_state(f"filler:{i}", b"x" * 64)
        with pytest.raises(LogError):  # to the last bytes (1 KiB pages: a checkpoint fits)
            for i in range(10_000):
                await rig.log.put_state(f"f{i}", b"x")
        engine = rig.engine = RuleEngine(rig.config, rig.log, rig.clock)
        rig.task = asyncio.create_task(engine.run())
        await wait_for(lambda: "not committed" in (engine.health().detail or ""), timeout=2)
        assert engine.health().state == "degraded"
        conn.execute("PRAGMA max_page_count = 1073741823")
        for _ in range(100):  # the retry's backoff sleeps on the manual clock
            if engine.health().ready:
                break
            rig.clock.advance(1)
            await asyncio.sleep(0.01)
        assert engine.health().ready, engine.health()
        await rig.stop()

    asyncio.run(scenario())
