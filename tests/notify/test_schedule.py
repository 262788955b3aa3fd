"""Schedules are local wall-clock windows: overnight windows and DST changes hold."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from central.notify.config import Schedule
from central.notify.policy import on_duty

NIGHTS = Schedule.model_validate(
    {
        "timezone": "Europe/Stockholm",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "18:00", "to": "08:00"},
            {"days": ["sat", "sun"], "from": "00:00", "to": "24:00"},
        ],
    }
)
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=STOCKHOLM).timestamp()


def test_an_overnight_window_runs_into_the_next_morning() -> None:
    assert on_duty(NIGHTS, _at(2026, 12, 2, 18, 0))  # Wednesday 18:00
    assert on_duty(NIGHTS, _at(2026, 12, 3, 3, 0))  # Thursday 03:00 (from Wednesday)
    assert not on_duty(NIGHTS, _at(2026, 12, 3, 8, 0))  # Thursday 08:00: the end is exclusive
    assert not on_duty(NIGHTS, _at(2026, 12, 3, 12, 0))  # Thursday noon
    assert on_duty(NIGHTS, _at(2026, 12, 5, 12, 0))  # Saturday noon: whole day
    # Monday 03:00 belongs to Sunday's whole-day window, which ends at 24:00, and to no
    # weekday night (Sunday is not in its days): off duty.
    assert not on_duty(NIGHTS, _at(2026, 12, 7, 3, 0))


def test_windows_follow_the_local_clock_across_the_spring_dst_change() -> None:
    # Sunday 29 March 2026, 02:00 CET -> 03:00 CEST. Friday 27 (CET) and Monday 30 (CEST):
    # 18:00 local is 17:00 UTC before and 16:00 UTC after the change.
    friday_evening = datetime(2026, 3, 27, 17, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    monday_evening = datetime(2026, 3, 30, 16, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert on_duty(NIGHTS, friday_evening)
    assert on_duty(NIGHTS, monday_evening)
    assert not on_duty(NIGHTS, monday_evening - 60)  # 17:59 CEST
    # Tuesday morning 07:59 CEST is 05:59 UTC: still the Monday night window.
    tuesday_morning = datetime(2026, 3, 31, 5, 59, tzinfo=ZoneInfo("UTC")).timestamp()
    assert on_duty(NIGHTS, tuesday_morning)
    assert not on_duty(NIGHTS, tuesday_morning + 60)


def test_windows_follow_the_local_clock_across_the_autumn_dst_change() -> None:
    # Sunday 25 October 2026, 03:00 CEST -> 02:00 CET: Monday 26 18:00 CET is 17:00 UTC.
    monday_evening = datetime(2026, 10, 26, 17, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert on_duty(NIGHTS, monday_evening)
    assert not on_duty(NIGHTS, monday_evening - 60)
    # The repeated hour of the change (Sunday) is inside the weekend's whole-day window.
    repeated = datetime(2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert on_duty(NIGHTS, repeated)
