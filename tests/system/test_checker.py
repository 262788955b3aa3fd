"""The fault suite's checker itself: what it reads at different moments must not turn a
delivery that raced the check into a disagreement."""

from __future__ import annotations

import redis

from tests import servers
from tests.system.checker import Report, Sent, _check_stream, _check_untimed
from tests.system.stack import GATEWAY


def test_event_synced_while_checking_is_not_reported_missing_from_the_stream(
    redis_server: servers.Server,
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    for seq in (1, 2, 3):
        client.xadd("tracseq:events", {"id": f"{GATEWAY}:{seq}"})
    client.close()
    # The sync cursor was read at 2; event 3 reached central (and the stream) right after.
    report = Report()
    central = {f"{GATEWAY}:{seq}" for seq in (1, 2, 3)}
    _check_stream(report, url, central, synced_upto=2, published_upto=3)
    assert report.stream_problems == []
    assert report.stream_events == 2 and report.stream_pending == 0


def test_event_in_central_but_never_published_is_reported(
    redis_server: servers.Server,
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    for seq in (1, 3):
        client.xadd("tracseq:events", {"id": f"{GATEWAY}:{seq}"})
    client.close()
    report = Report()
    central = {f"{GATEWAY}:{seq}" for seq in (1, 2, 3)}
    _check_stream(report, url, central, synced_upto=3, published_upto=3)
    assert report.stream_problems == [f"{GATEWAY}:2 in central (seq >= 1), not on the stream"]


def test_value_stored_after_a_window_is_not_taken_for_its_twin_inside_it() -> None:
    """4.3 is sent inside the disk-full window (lost) and again just after it (stored):
    the stored 4.3 is the later one; the lost one is explained by the window."""
    sensor = "cold-room-1.temp"
    sent = [
        Sent(sensor=sensor, time_ms=None, value=v, sent=t)
        for t, v in ((1.0, 4.0), (2.0, 4.3), (3.0, 4.3), (4.0, 4.1))
    ]
    report = Report()
    windows = {"while the disk was full": [(1.5, 2.5)]}
    _check_untimed(report, sent, {sensor: [4.0, 4.3, 4.1]}, windows, [])
    assert report.untimed_unexplained == []
    assert report.untimed[sensor][2] == {"while the disk was full": 1}


def test_value_lost_outside_any_window_is_reported() -> None:
    sensor = "cold-room-1.temp"
    sent = [
        Sent(sensor=sensor, time_ms=None, value=v, sent=t)
        for t, v in ((1.0, 4.0), (2.0, 4.3), (3.0, 4.2), (4.0, 4.1))
    ]
    report = Report()
    _check_untimed(report, sent, {sensor: [4.0, 4.3, 4.1]}, {}, [])
    assert report.untimed_unexplained == [f"{sensor}: value 4.2 sent at 3.000 missing"]
