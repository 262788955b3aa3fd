"""A late reading stays late across a restart (the fault suite's F06 after kill -9).

The disk fills, an MQTT batch whose commit failed comes back behind newer readings that
did commit, and the rules skip it (docs/events.md `## Alarms`). When the daemon is killed
before its next periodic checkpoint, or the batch is committed only after the restart, the
engine evaluates it again after the restart: it must still know the newest reading time it
had evaluated, or a reading from before the excursion clears the alarm and the rest of the
late batch raises a second one for the same excursion."""

from __future__ import annotations

from pathlib import Path

from edge.entry import Entry
from edge.log import DurableLog
from runtime import events
from tests.edge.alarm_rig import Rig, kinds

ULT = "ult-F12.temp"  # templated: high above -70 for 5m, clear_below -72
LN2 = "ln2-dewar-1.level"  # configured: low below 30 for 0s, clear_above 35


async def test_a_late_reading_committed_while_the_engine_was_down_stays_late(
    tmp_path: Path,
) -> None:
    rig = await Rig(tmp_path).open()
    await rig.reading(LN2, 60.0, at=rig.start)
    rig.clock.advance(10)
    await rig.reading(LN2, 12.0)  # t=10: raised at once
    await rig.stop()
    alone = DurableLog.open(tmp_path / "log.db", cursors=("redis", "sync"))
    # The batch that failed to commit before the crash, redelivered: sensor time t=5.
    now = rig.clock.time()
    await alone.append([Entry(events.READING, LN2, rig.start + 5, now, {"value": 60.0})])
    await alone.close()
    await rig.open()
    try:
        low = await rig.alarms(LN2, "low")
        assert kinds(low) == ["raised"], "a reading from before the raise cleared it"
        await rig.reading(LN2, 40.0)  # a new reading still clears it
        assert kinds(await rig.alarms(LN2, "low")) == ["raised", "cleared"]
    finally:
        await rig.stop()


async def test_a_late_batch_evaluated_before_a_crash_is_late_again_after_it(
    tmp_path: Path,
) -> None:
    rig = await Rig(tmp_path).open()
    await rig.reading(ULT, -80.0)
    rig.clock.advance(30)
    await rig.reading(ULT, -65.0)  # t=30: the door opens
    await rig.advance(300)  # raised at t=330, since t=30
    await rig.reading(ULT, -64.0)  # t=330
    # The late batch: -79 from before the door opened, then warm readings after it.
    for offset, value in ((10, -79.0), (20, -68.0), (25, -66.0)):
        await rig.reading(ULT, value, at=rig.start + offset)
    assert kinds(await rig.alarms(ULT, "high")) == ["raised"]
    await rig.restart()  # before a periodic checkpoint: the late batch is evaluated again
    try:
        high = await rig.alarms(ULT, "high")
        assert kinds(high) == ["raised"], "the late batch cleared and raised again"
        await rig.reading(ULT, -78.0)
        high = await rig.alarms(ULT, "high")
        assert kinds(high) == ["raised", "cleared"]
        assert high[1].data["alarm_id"] == high[0].data["alarm_id"]
    finally:
        await rig.stop()
