"""The commit window: syncs per second bounded at any steady rate, a lone reading at once,
urgent requests never held. Driven by a manual clock and observed conditions, not timing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from edge.entry import Entry
from edge.log import DurableLog
from edge.log.window import CommitWindow
from runtime import events

WINDOW = 0.020


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_gateway_commits_a_lone_reading_at_once() -> None:
    clock = Clock()
    window = CommitWindow(WINDOW, clock=clock)
    window.arrived(clock.now)
    assert window.deadline(urgent=False, full=False) is None  # never committed before
    window.committing()
    clock.now += 5.0  # quiet for a while
    window.arrived(clock.now)
    assert window.deadline(urgent=False, full=False) is None


def test_under_a_steady_rate_it_waits_until_a_window_after_the_last_commit() -> None:
    clock = Clock()
    window = CommitWindow(WINDOW, clock=clock)
    window.arrived(clock.now)
    window.committing()
    for _ in range(3):  # 200/s
        clock.now += 0.005
        window.arrived(clock.now)
    assert window.deadline(urgent=False, full=False) == pytest.approx(1000.0 + WINDOW)


def test_urgent_full_or_quiet_batches_are_not_held() -> None:
    clock = Clock()
    window = CommitWindow(WINDOW, clock=clock)
    window.arrived(clock.now)
    window.committing()
    clock.now += 0.001
    window.arrived(clock.now)
    assert window.deadline(urgent=True, full=False) is None
    assert window.deadline(urgent=False, full=True) is None
    for _ in range(20):  # a fast stream (2,000/s) ...
        clock.now += 0.0005
        window.arrived(clock.now)
    window.committing()
    clock.now += 0.0005
    window.arrived(clock.now)
    assert window.deadline(urgent=False, full=False) is not None
    clock.now += WINDOW / 4 + 0.0001  # ... that stopped (a broker waiting for our acks)
    assert window.deadline(urgent=False, full=False) is None
    assert CommitWindow(0.0, clock=clock).deadline(urgent=False, full=False) is None


@pytest.mark.parametrize("rate", [10, 49, 60, 200, 1000, 2000, 5000, 20000])
def test_commits_per_second_stay_at_most_one_per_window_at_any_steady_rate(rate: int) -> None:
    """The writer's loop, simulated on the manual clock: evenly spaced arrivals for 10 s,
    each commit taking 2 ms; count commits (each is one disk sync)."""
    clock = Clock()
    window = CommitWindow(WINDOW, clock=clock)
    start = clock.now
    arrivals = [start + i / rate for i in range(10 * rate)]
    commits = 0
    i = 0
    while i < len(arrivals):
        clock.now = max(clock.now, arrivals[i])  # the writer wakes for the first request
        window.arrived(arrivals[i])
        i += 1
        while True:
            while i < len(arrivals) and arrivals[i] <= clock.now:
                window.arrived(arrivals[i])
                i += 1
            deadline = window.deadline(urgent=False, full=False)
            if deadline is None:
                break
            if i < len(arrivals) and arrivals[i] < deadline:
                clock.now = arrivals[i]
                continue
            clock.now = deadline
            break
        window.committing()
        commits += 1
        clock.now += 0.002
    per_second = commits / 10.0
    assert per_second <= 1 / WINDOW + 0.1
    if rate < 1 / WINDOW:
        assert commits == len(arrivals), "below 50/s every reading is committed at once"


def _reading(i: int) -> Entry:
    return Entry(events.READING, "a", None, time.time(), {"value": float(i)})


async def _until(predicate: object, timeout: float = 10.0) -> None:
    """Wait for a condition with a deadline, without blocking the loop."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)


async def test_readings_wait_for_the_window_and_an_alarm_takes_them_along(tmp_path: Path) -> None:
    """On a manual clock with an hour-long window: the first reading commits at once;
    the next two wait (the writer holds them); an alarm is urgent and commits all three in
    one commit; an hour later a lone reading commits at once again."""
    clock = Clock()
    log = DurableLog.open(tmp_path / "log.db", commit_window=3600.0, clock=clock)
    try:
        assert await log.append([_reading(1)]) == [1]
        assert log.stats.commits == 1
        waiting = [asyncio.ensure_future(log.append([_reading(i)])) for i in (2, 3)]
        await _until(lambda: log._writer.holding == 2)
        assert log.stats.commits == 1 and not any(w.done() for w in waiting)
        alarm = Entry(events.ALARM_RAISED, "a", None, time.time(), {"rule": "high"}, keep=True)
        assert await log.append([alarm]) == [4]
        assert [await w for w in waiting] == [[2], [3]]
        assert log.stats.commits == 2
        clock.now += 3601
        assert await log.append([_reading(5)]) == [5]
        assert log.stats.commits == 3
    finally:
        await log.close()


def test_cursor_moves_alone_wait_longer_and_go_with_the_next_reading() -> None:
    """A publisher's cursor move right after a commit would cost a second sync per reading
    at low rates; it waits (up to ten windows) for the next reading's commit instead."""
    clock = Clock()
    window = CommitWindow(WINDOW, clock=clock)
    window.arrived(clock.now)
    window.committing()  # a lone reading, committed at once
    clock.now += 0.003
    window.arrived(clock.now)  # the Redis publisher confirms it
    assert window.deadline(urgent=False, full=False, lazy=True) == pytest.approx(
        1000.0 + 10 * WINDOW
    )
    clock.now += 0.097  # the next reading, 100 ms later: both go in one commit, at once
    window.arrived(clock.now)
    assert window.deadline(urgent=False, full=False, lazy=False) is None


async def test_cursor_moves_go_with_readings_at_most_once_per_ten_windows(tmp_path: Path) -> None:
    """A cursor move is one more page in a commit's WAL append: at low rates (a reading per
    commit) publishers' confirmations ride along only once per ten windows, else they wait
    for a later commit; the durable cursor only trails further."""
    clock = Clock()
    log = DurableLog.open(tmp_path / "log.db", cursors=("redis",), commit_window=1.0, clock=clock)
    try:
        assert await log.append([_reading(1)]) == [1]
        first = asyncio.ensure_future(log.advance("redis", 1))
        await _until(lambda: log._writer.holding == 1)  # alone it waits for a reading
        clock.now += 2
        assert await log.append([_reading(2)]) == [2]
        await first  # went with reading 2: no cursor written before
        assert (log.cursor("redis"), log.stats.commits) == (1, 2)
        second = asyncio.ensure_future(log.advance("redis", 2))
        await _until(lambda: log._writer.holding == 1)
        clock.now += 2
        assert await log.append([_reading(3)]) == [3]
        assert log.stats.commits == 3 and not second.done()  # 2 s since the last cursor write
        assert log.cursor("redis") == 1
        clock.now += 9
        assert await log.append([_reading(4)]) == [4]
        await second  # 11 s: due, it goes with reading 4
        assert (log.cursor("redis"), log.stats.commits) == (2, 4)
    finally:
        await log.close()


async def test_a_commit_hands_every_outcome_back_to_the_event_loop_at_once(
    tmp_path: Path,
) -> None:
    """Producers' callbacks (the MQTT driver's acks) run in the event loop, not the writer
    thread, and all requests of one commit are answered together."""
    clock = Clock()
    log = DurableLog.open(tmp_path / "log.db", commit_window=3600.0, clock=clock)
    seen: list[tuple[int, list[int | None] | None]] = []
    try:
        await log.append([_reading(0)])  # idle: committed at once; the window is open now
        for i in (1, 2, 3):
            log.submit([_reading(i)], lambda seqs: seen.append((threading.get_ident(), seqs)))
        await _until(lambda: log._writer.holding == 3)
        assert seen == []  # held: nothing acknowledged before the commit
        log.submit([_reading(4)], urgent=True)  # e.g. an MQTT inflight window half full
        await _until(lambda: len(seen) == 3)
        assert {ident for ident, _ in seen} == {threading.get_ident()}
        assert [seqs for _, seqs in seen] == [[2], [3], [4]]
        assert log.stats.commits == 2
    finally:
        await log.close()
