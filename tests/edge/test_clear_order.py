"""A clear never precedes its raise (issue 15 item 6): a reading stamped before the raise
(a sensor clock behind, a time zone fixed meanwhile) still clears the alarm, recorded at
the time the gateway received it, and the log says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime import events
from tests.edge.alarm_rig import Rig, kinds

ULT = "ult-F12.temp"  # high above -70 for 5m, clear_below -72


async def test_a_reading_stamped_before_the_raise_clears_at_its_receive_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await Rig(tmp_path).open()
    try:
        await rig.reading(ULT, -80.0)
        await rig.advance(30)
        await rig.reading(ULT, -65.0)  # the delay starts at t=30
        await rig.advance(300)  # the delay expires: raised at t=330
        # The sensor's clock runs 4 minutes behind: its next reading says t=100.
        with caplog.at_level(logging.WARNING, logger="tracseq.edge.alarms"):
            await rig.reading(ULT, -78.0, at=rig.start + 100)
        raised, cleared = await rig.alarms(ULT, "high")
        assert kinds([raised, cleared]) == ["raised", "cleared"]
        assert raised.time == rig.start + 330
        assert cleared.time == rig.start + 330  # received then, not the sensor's t=100
        assert cleared.data["duration_s"] == 300.0
        assert cleared.data["since"] == events.format_time(rig.start + 30)
        assert "is before the raise" in caplog.text
    finally:
        await rig.stop()
