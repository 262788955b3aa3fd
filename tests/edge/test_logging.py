from __future__ import annotations

import logging

import orjson

from runtime.logging_setup import JsonFormatter, RepeatFilter


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("tracseq.test", level, __file__, 1, message, None, None)


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


def test_info_lines_are_never_suppressed() -> None:
    f = RepeatFilter()
    assert all(f.filter(record("reading", logging.INFO)) for _ in range(10))


def test_json_lines_carry_extra_fields() -> None:
    rec = record("offline")
    rec.sensor = "ult-F12.temp"
    line = orjson.loads(JsonFormatter().format(rec))
    assert line["message"] == "offline" and line["sensor"] == "ult-F12.temp"
    assert line["level"] == "error"
