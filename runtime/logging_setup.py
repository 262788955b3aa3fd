"""Structured logs for every command: `--log-format text|json` (JSON when not a terminal)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class RepeatFilter(logging.Filter):
    """No log storms, and no failure hidden behind a recovery.

    An identical warning/error line within `window` seconds is held back; the next one let
    through says how many were suppressed. A line below WARNING from the same logger (how a
    retry loop reports its recovery, see runtime.backoff.RetryLog, always from the logger
    that warned) ends the hold: the next identical warning is a relapse and passes, so the
    log never leaves a device looking recovered when it failed again. A device flapping
    every second would make that a storm again, so at most `relapses` of them pass per
    window and key; later ones are held back until the window ends, and counted as usual.
    """

    def __init__(self, window: float = 60.0, clock: Any = None, relapses: int = 3) -> None:
        super().__init__()
        import time

        self._window = window
        self._relapses = relapses
        self._now = clock or time.monotonic
        # Records are numbered so "a recovery since the last shown warning" is exact even
        # when both carry the same clock reading.
        self._number = 0
        self._recovered: dict[str, int] = {}  # logger -> number of its last line below WARNING
        # key -> (window start, suppressed since last shown, relapses shown, last shown number)
        self._seen: dict[tuple[str, int, str], tuple[float, int, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        self._number += 1
        if record.levelno < logging.WARNING:
            self._recovered[record.name] = self._number
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self._now()
        last = self._seen.get(key)
        if last is None or now - last[0] >= self._window:
            self._seen[key] = (now, 0, 0, self._number)
        elif self._recovered.get(record.name, 0) > last[3] and last[2] < self._relapses:
            self._seen[key] = (last[0], 0, last[2] + 1, self._number)
        else:
            self._seen[key] = (last[0], last[1] + 1, last[2], last[3])
            return False
        if last is not None and last[1]:
            record.msg = f"{record.getMessage()} (repeated {last[1]} more times)"
            record.args = None
        if len(self._seen) > 10_000:  # bounded memory
            self._seen.clear()
            self._recovered.clear()
        return True


def setup_logging(fmt: str | None, level: str = "INFO") -> None:
    """Configure the root logger once; `fmt` None picks json unless stderr is a terminal."""
    if fmt is None:
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pymodbus dumps its frame history at ERROR on every timeout; the driver logs the
    # first failure and the recovery itself.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
