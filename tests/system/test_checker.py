"""The fault suite's checker itself: what it reads at different moments must not turn a
delivery that raced the check into a disagreement."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import redis

from tests import servers
from tests.system.checker import (
    FAILED_POLLS,
    RESTARTED,
    Report,
    Sent,
    _check_stream,
    _check_untimed,
    modbus_failed_polls,
)
from tests.system.stack import GATEWAY

COLD_ROOM = "cold-room-1.temp"
T0 = 1_796_480_000.0  # any epoch; the edge's log gives local times of day


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
    stored = [(t + 0.1, v) for t, v in ((1.0, 4.0), (3.0, 4.3), (4.0, 4.1))]
    _check_untimed(report, sent, {sensor: stored}, windows, {})
    assert report.untimed_unexplained == []
    assert report.untimed[sensor][2] == {"while the disk was full": 1}


def test_value_lost_outside_any_window_is_reported() -> None:
    sensor = "cold-room-1.temp"
    sent = [
        Sent(sensor=sensor, time_ms=None, value=v, sent=t)
        for t, v in ((1.0, 4.0), (2.0, 4.3), (3.0, 4.2), (4.0, 4.1))
    ]
    report = Report()
    stored = [(t + 0.1, v) for t, v in ((1.0, 4.0), (2.0, 4.3), (4.0, 4.1))]
    _check_untimed(report, sent, {sensor: stored}, {}, {})
    assert report.untimed_unexplained == [f"{sensor}: value 4.2 sent at 3.000 missing"]


def _ln2(values: list[tuple[float, float]]) -> list[Sent]:
    return [Sent(sensor="ln2-dewar-1.level", time_ms=None, value=v, sent=t) for t, v in values]


def test_lines_in_flight_when_the_edge_was_killed_are_explained_by_its_restart() -> None:
    """The edge, lagging 2 s behind the serial port, committed 70.2 (sent at 8.0) and died
    at 11.0 holding 70.1 and 70.0 (sent at 9.0 and 10.0): the restart window opens a second
    before the kill (10.0), yet 70.1 was in flight too."""
    sensor = "ln2-dewar-1.level"
    sent = _ln2([(8.0, 70.2), (9.0, 70.1), (10.0, 70.0), (13.0, 69.9), (14.0, 69.8)])
    stored = [(10.0, 70.2), (14.5, 69.9), (15.0, 69.8)]
    report = Report()
    _check_untimed(report, sent, {sensor: stored}, {RESTARTED: [(10.0, 14.0)]}, {})
    assert report.untimed_unexplained == []
    assert report.untimed[sensor][2] == {RESTARTED: 2}


def test_a_line_lost_after_the_restart_is_still_reported() -> None:
    sensor = "ln2-dewar-1.level"
    sent = _ln2([(8.0, 70.2), (9.0, 70.1), (13.0, 69.9), (20.0, 69.7), (21.0, 69.6)])
    stored = [(8.5, 70.2), (13.5, 69.9), (21.5, 69.6)]
    report = Report()
    _check_untimed(report, sent, {sensor: stored}, {RESTARTED: [(10.0, 14.0)]}, {})
    assert report.untimed_unexplained == [f"{sensor}: value 69.7 sent at 20.000 missing"]
    assert report.untimed[sensor][2] == {RESTARTED: 1}


def _polls(values: list[tuple[float, float]]) -> list[Sent]:
    """Answers the simulator recorded for the cold room, at T0 + seconds."""
    return [Sent(sensor=COLD_ROOM, time_ms=None, value=v, sent=T0 + t) for t, v in values]


def _edge_log(tmp_path: Path, lines: list[tuple[float, str]]) -> Path:
    """An edge text log (`--log-format text`: local time of day in whole seconds)."""
    path = tmp_path / "edge.log"
    path.write_text(
        "=== start #1 of edge ===\n"
        + "".join(
            f"{datetime.fromtimestamp(T0 + t).strftime('%H:%M:%S')} {message}\n"
            for t, message in lines
        )
    )
    return path


RECOVERED = (
    "INFO tracseq.drivers.modbus: modbus bench-rs485: unit 1 recovered after {} failed attempts"
)


def test_answer_to_a_failed_poll_is_explained_when_its_warning_was_held_back(
    tmp_path: Path,
) -> None:
    """Under load the edge reads an answer after its 1 s timeout: the poll failed, the
    simulator recorded 4.3 as sent. The unit had failed 20 s before, so the repeat filter
    held the identical warning back; only the recovery line says a poll failed."""
    sent = _polls([(1.0, 4.0), (2.0, 4.3), (4.5, 4.1), (5.5, 4.2)])
    log = _edge_log(
        tmp_path,
        [
            (-20.0, "WARNING tracseq.drivers.modbus: modbus bench-rs485: unit 1 failed, "
             "retrying with backoff: no response within 1s"),
            (-19.0, RECOVERED.format(1)),
            (4.5, RECOVERED.format(1)),
        ],
    )  # fmt: skip
    stored = [(T0 + t + 0.01, v) for t, v in ((1.0, 4.0), (4.5, 4.1), (5.5, 4.2))]
    report = Report()
    _check_untimed(report, sent, {COLD_ROOM: stored}, {}, modbus_failed_polls(log))
    assert report.untimed_unexplained == []
    assert report.untimed[COLD_ROOM][2] == {FAILED_POLLS: 1}


def test_value_lost_right_after_a_failed_poll_is_reported(tmp_path: Path) -> None:
    """A real loss next to a failed poll: the failed poll explains its own answer (4.3),
    not the reading read successfully a second later (4.2), which a window of seconds
    around the failure used to excuse."""
    sent = _polls([(1.0, 4.0), (2.0, 4.3), (3.2, 4.1), (4.2, 4.2), (5.2, 4.4)])
    log = _edge_log(
        tmp_path,
        [
            (3.0, "WARNING tracseq.drivers.modbus: modbus bench-rs485: unit 1 failed, "
             "retrying with backoff: no response within 1s"),
            (3.2, RECOVERED.format(1)),
        ],
    )  # fmt: skip
    stored = [(T0 + t + 0.01, v) for t, v in ((1.0, 4.0), (3.2, 4.1), (5.2, 4.4))]
    report = Report()
    _check_untimed(report, sent, {COLD_ROOM: stored}, {}, modbus_failed_polls(log))
    assert report.untimed_unexplained == [f"{COLD_ROOM}: value 4.2 sent at {T0 + 4.2:.3f} missing"]


def test_more_values_missing_than_failed_polls_is_reported(tmp_path: Path) -> None:
    sent = _polls([(1.0, 4.0), (2.0, 4.3), (3.0, 4.2), (4.5, 4.1)])
    log = _edge_log(tmp_path, [(4.5, RECOVERED.format(1))])
    stored = [(T0 + t + 0.01, v) for t, v in ((1.0, 4.0), (4.5, 4.1))]
    report = Report()
    _check_untimed(report, sent, {COLD_ROOM: stored}, {}, modbus_failed_polls(log))
    assert len(report.untimed_unexplained) == 1
    assert report.untimed[COLD_ROOM][2] == {FAILED_POLLS: 1}


def test_failed_answer_equal_to_the_recovering_one_is_explained(tmp_path: Path) -> None:
    """4.3 failed, the recovering poll reads 4.3 again: the stored 4.3 is the second."""
    sent = _polls([(1.0, 4.0), (2.0, 4.3), (3.5, 4.3), (4.5, 4.1)])
    log = _edge_log(tmp_path, [(3.5, RECOVERED.format(1))])
    stored = [(T0 + t + 0.01, v) for t, v in ((1.0, 4.0), (3.5, 4.3), (4.5, 4.1))]
    report = Report()
    _check_untimed(report, sent, {COLD_ROOM: stored}, {}, modbus_failed_polls(log))
    assert report.untimed_unexplained == []


def test_failed_polls_are_counted_before_their_reading_after_a_clock_step(
    tmp_path: Path,
) -> None:
    """The edge's wall clock was an hour ahead, then back: the reading before the failed
    poll is stamped in the other hour, and the recovery line still finds its own reading."""
    sent = _polls([(0.5, 3.9), (1.0, 4.0), (2.0, 4.3), (3.5, 4.1)])
    log = _edge_log(tmp_path, [(3.5, RECOVERED.format(1))])
    stored = [(T0 + 0.51, 3.9), (T0 + 3600 + 1.01, 4.0), (T0 + 3.51, 4.1)]
    report = Report()
    _check_untimed(report, sent, {COLD_ROOM: stored}, {}, modbus_failed_polls(log))
    assert report.untimed_unexplained == []
    assert report.untimed[COLD_ROOM][2] == {FAILED_POLLS: 1}
