from __future__ import annotations

import logging

import orjson

from runtime.backoff import RetryLog
from runtime.logging_setup import JsonFormatter, RepeatFilter


def record(
    message: str, level: int = logging.ERROR, logger: str = "tracseq.test"
) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, message, None, None)


def test_repeated_identical_errors_are_rate_limited_with_a_count() -> None:
    now = [0.0]
    f = RepeatFilter(window=60.0, clock=lambda: now[0])
    assert f.filter(record("redis down"))
    assert not any(f.filter(record("redis down")) for _ in range(99))
    assert f.filter(record("another problem"))
    now[0] = 61.0
    again = record("redis down")
    assert f.filter(again)
    assert again.getMessage() == "redis down (repeated 99 more times)"


FAILED = "modbus bench: unit 1 failed, retrying with backoff: timeout"
RECOVERED = "modbus bench: unit 1 recovered after 2 failed attempts"


def test_a_failure_after_a_recovery_is_shown_with_the_held_back_count() -> None:
    now = [0.0]
    f = RepeatFilter(window=60.0, clock=lambda: now[0])
    assert f.filter(record(FAILED, logging.WARNING))
    now[0] = 1.0
    assert not f.filter(record(FAILED, logging.WARNING))
    assert f.filter(record(RECOVERED, logging.INFO))
    now[0] = 2.0
    relapse = record(FAILED, logging.WARNING)
    assert f.filter(relapse)
    assert relapse.getMessage() == f"{FAILED} (repeated 1 more times)"
    now[0] = 3.0
    assert not f.filter(record(FAILED, logging.WARNING))  # no recovery since: held back


def test_a_retry_loop_that_fails_again_after_recovering_logs_both_failures() -> None:
    logger = logging.getLogger("tracseq.test.flapping")
    shown: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda rec: shown.append(rec.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RepeatFilter(window=60.0, clock=lambda: 0.0))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        retry = RetryLog(logger, "modbus bench: unit 1")
        retry.failed("timeout")
        retry.succeeded()
        retry.failed("timeout")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    assert shown == [
        "modbus bench: unit 1 failed, retrying with backoff: timeout",
        "modbus bench: unit 1 recovered after 1 failed attempts",
        "modbus bench: unit 1 failed, retrying with backoff: timeout",
    ]


def test_a_recovery_logged_by_another_logger_does_not_release_a_warning() -> None:
    f = RepeatFilter(window=60.0, clock=lambda: 0.0)
    assert f.filter(record(FAILED, logging.WARNING))
    assert f.filter(record(RECOVERED, logging.INFO, logger="tracseq.drivers.mqtt"))
    assert not f.filter(record(FAILED, logging.WARNING))


def test_a_device_flapping_every_second_shows_a_few_relapses_a_window() -> None:
    now = [0.0]
    f = RepeatFilter(window=60.0, clock=lambda: now[0], relapses=3)
    shown = []
    for second in range(60):
        now[0] = float(second)
        failure = record(FAILED, logging.WARNING)
        if f.filter(failure):
            shown.append(failure.getMessage())
        assert f.filter(record(RECOVERED, logging.INFO))
    assert shown == [FAILED] * 4  # the first failure and three relapses
    now[0] = 60.0
    later = record(FAILED, logging.WARNING)
    assert f.filter(later)
    assert later.getMessage() == f"{FAILED} (repeated 56 more times)"


def test_info_lines_are_never_suppressed() -> None:
    f = RepeatFilter()
    assert all(f.filter(record("reading", logging.INFO)) for _ in range(10))


def test_json_lines_carry_extra_fields() -> None:
    rec = record("offline")
    rec.sensor = "ult-F12.temp"
    line = orjson.loads(JsonFormatter().format(rec))
    assert line["message"] == "offline" and line["sensor"] == "ult-F12.temp"
    assert line["level"] == "error"
