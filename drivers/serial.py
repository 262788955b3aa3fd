"""Serial line devices: read a tty, cut lines, match them to sensors, reopen when it vanishes.

The port is opened with pyserial-asyncio-fast (no thread). A port that is missing at start,
or disappears (USB adapter unplugged, pty closed), is reopened with backoff until it is back;
a line cut short by the loss is kept as a reject. Noise, non-decodable bytes and over-long
lines become rejects (`serial:<port>`) and are counted; none of them stop the driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import serial_asyncio_fast
from prometheus_client import Counter, Gauge

from drivers.base import ReadingSink
from drivers.lines import Line, LineDecoder, LineSplitter
from edgeconfig import Sensor, Serial
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock
from runtime.health import Health

log = logging.getLogger("tracseq.drivers.serial")

LINES = Counter(
    "tracseq_serial_lines_total",
    "Lines read by outcome (ok, no_match, bad_value, bad_encoding, too_long, partial, empty)",
    ["connection", "result"],
)
OPENS = Counter(
    "tracseq_serial_opens_total", "Attempts to open the serial port", ["connection", "result"]
)
PORT_OPEN = Gauge("tracseq_serial_port_open", "1 while the serial port is open", ["connection"])

_READ_SIZE = 4096


class SerialDriver:
    """Reads the line-protocol sensors of one serial connection."""

    def __init__(
        self,
        name: str,
        settings: Serial,
        sensors: Sequence[Sensor],
        clock: Clock,
        *,
        reopen: Backoff | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock
        self._reopen = reopen or Backoff(base=0.5, cap=10.0)
        self._retry = RetryLog(log, f"serial {name}: open {settings.port}")
        self._decoder = LineDecoder(sensors, settings.port, settings.encoding, settings.terminator)
        self._terminator = settings.terminator.encode(settings.encoding)
        self._open = False
        self._started = False
        self._error = ""
        self.counters: dict[str, int] = {}
        PORT_OPEN.labels(connection=name).set(0)

    async def run(self, sink: ReadingSink) -> None:
        """Read until cancelled; a missing or vanished port is retried with backoff."""
        try:
            while True:
                self._started = True
                opened = await self._open_port()
                if opened is not None:
                    reader, writer = opened
                    try:
                        await self._read(reader, sink)
                    finally:
                        self._set_closed()
                        writer.close()
                await self._clock.sleep(self._reopen.next_delay())
        finally:
            self._set_closed()

    def health(self) -> Health:
        counters = dict(self.counters)
        if not self._started:
            return Health("starting", f"opening {self.settings.port}", counters)
        if not self._open:
            return Health("disconnected", f"{self.settings.port}: {self._error}", counters)
        return Health("connected", self.settings.port, counters)

    async def _open_port(self) -> tuple[asyncio.StreamReader, Any] | None:
        try:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=self.settings.port,
                baudrate=self.settings.baudrate,
                bytesize=self.settings.bytesize,
                parity=self.settings.parity,
                stopbits=self.settings.stopbits,
            )
        except Exception as exc:  # noqa: BLE001 -- a port that cannot open is retried, never fatal
            self._error = f"cannot open: {exc}"
            self._retry.failed(self._error)
            self._count_open("failed")
            return None
        self._count_open("ok")
        self._retry.succeeded()
        self._reopen.reset()
        self._open = True
        self._error = ""
        PORT_OPEN.labels(connection=self.name).set(1)
        log.info("serial %s: %s open", self.name, self.settings.port)
        return reader, writer

    async def _read(self, reader: asyncio.StreamReader, sink: ReadingSink) -> None:
        splitter = LineSplitter(self._terminator, self.settings.max_line)
        try:
            while True:
                try:
                    chunk = await reader.read(_READ_SIZE)
                except Exception as exc:  # noqa: BLE001 -- the port went away (EIO, unplugged)
                    self._error = f"lost: {exc}"
                    break
                if not chunk:
                    self._error = "lost: end of file"
                    break
                self.counters["bytes"] = self.counters.get("bytes", 0) + len(chunk)
                self._submit(splitter.feed(chunk), sink)
        finally:
            rest = splitter.flush()
            if rest is not None:
                self._submit([rest], sink)
        log.warning(
            "serial %s: %s %s; reopening with backoff", self.name, self.settings.port, self._error
        )

    def _submit(self, lines: list[Line], sink: ReadingSink) -> None:
        if not lines:
            return
        decoded = self._decoder.decode(lines, self._clock.time())
        for result in decoded.results:
            LINES.labels(connection=self.name, result=result).inc()
            self.counters[result] = self.counters.get(result, 0) + 1
        if decoded.readings or decoded.rejects:
            sink.submit(decoded.readings, decoded.rejects)

    def _count_open(self, result: str) -> None:
        OPENS.labels(connection=self.name, result=result).inc()
        key = f"open_{result}"
        self.counters[key] = self.counters.get(key, 0) + 1

    def _set_closed(self) -> None:
        self._open = False
        PORT_OPEN.labels(connection=self.name).set(0)
