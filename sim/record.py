"""The record of what the simulator sent (`--record sent.jsonl`), for end-to-end checks.

One JSON object per line:

    {"sensor": "ult-F12.temp", "time": "2026-11-24T10:00:00.123Z", "value": -80.2,
     "via": "mqtt", "sent": "2026-11-24T10:00:00.125Z"}

`sensor` is the sensor id of the root sensors.yaml, `value` the value exactly as it went
on the wire (before the gateway's calibration), `time` the sensor time carried by the
payload (null when the payload has none), `sent` the wall time it was confirmed: the
broker's PUBACK for MQTT, the write for serial lines, the answer to a poll for Modbus.
A reading is only recorded once it has left the simulator. Thread-safe: the MQTT
network thread records acknowledgements.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import orjson

from runtime.events import format_time


class Recorder:
    """Appends sent readings to a JSONL file (or only counts them without a path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()  # readings recorded per `via`
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")

    def sent(self, sensor: str, value: float, via: str, sensor_time: float | None) -> None:
        """Record one reading that left the simulator."""
        line = None
        if self._file is not None:
            line = orjson.dumps(
                {
                    "sensor": sensor,
                    "time": None if sensor_time is None else format_time(sensor_time),
                    "value": value,
                    "via": via,
                    "sent": format_time(time.time()),
                }
            )
        with self._lock:
            self.counts[via] += 1
            if self._file is not None and line is not None:
                self._file.write(line + b"\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
