"""A step of the gateway's wall clock (NTP correcting it, the fault suite's +1 h / back)
changes nothing for readings without a sensor time (Modbus polls, serial lines).

Their time is the receive time on that wall clock, and the rules evaluate them in seq
order, which is receive order: such a reading is never late. A step back once made every
one of them look older than the last, so high and low skipped them (an LN2 dewar running
dry raised nothing until the clock caught up, an hour later); a step forward made a running
delay look held for an hour (docs/events.md: a delay is timed on the monotonic clock)."""

from __future__ import annotations

from pathlib import Path

from edge.entry import Entry
from runtime import events
from tests.edge.alarm_rig import Rig, kinds

LN2 = "ln2-dewar-1.level"  # low below 30 for 0s, clear_above 35; no sensor time
COLD_ROOM = "cold-room-1.temp"  # high above 8 for 15m, clear_below 7.5; no sensor time


async def untimed(rig: Rig, sensor: str, value: float, received: float) -> None:
    assert rig.log is not None
    seqs = await rig.log.append([Entry(events.READING, sensor, None, received, {"value": value})])
    assert seqs[0] is not None
    await rig.settle(seqs[0])


async def test_after_a_step_back_a_reading_without_sensor_time_still_raises(
    tmp_path: Path,
) -> None:
    rig = await Rig(tmp_path).open()
    try:
        await untimed(rig, LN2, 60.0, rig.start + 3600)  # the clock an hour fast
        rig.clock.advance(10)
        await untimed(rig, LN2, 12.0, rig.start + 10)  # stepped back to the true time
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised"]
        assert low[0].data["value"] == 12.0
        await untimed(rig, LN2, 40.0, rig.start + 11)
        assert kinds(await rig.alarms(LN2, "low")) == ["raised", "cleared"]
    finally:
        await rig.stop()


async def test_a_step_forward_does_not_complete_a_delay(tmp_path: Path) -> None:
    rig = await Rig(tmp_path).open()
    try:
        await untimed(rig, COLD_ROOM, 9.0, rig.start)  # the 15-minute delay starts
        rig.clock.advance(5)
        await untimed(rig, COLD_ROOM, 9.1, rig.start + 3605)  # the clock stepped +1 h
        assert await rig.alarms(COLD_ROOM, "high") == [], "raised after 5 s of warmth"
        await rig.advance(900)  # 15 minutes on the monotonic clock
        assert kinds(await rig.alarms(COLD_ROOM, "high")) == ["raised"]
    finally:
        await rig.stop()
