"""The LN2 level monitor: `LVL 045.2 %` lines on a pty at `<pty-dir>/ln2`.

Like a real RS-232 line, what is written while no program has the port open is lost:
such lines are counted as `unheard` and not recorded. A line is recorded as sent once
the whole line went into the pty. Garbage is one burst of random bytes ending in a
newline; a dropout is silence.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from pathlib import Path

from sim.errors import SimulatorError
from sim.fleet import Fleet
from sim.payloads import garbage, ln2_line
from sim.ptylink import PtyPort
from sim.record import Recorder

log = logging.getLogger("tracseq.sim.serial")

DEVICE = "ln2-dewar-1"


class Ln2Monitor:
    """Writes one line per tick for the LN2 dewar to its pty."""

    def __init__(self, fleet: Fleet, recorder: Recorder, link: Path) -> None:
        self.fleet = fleet
        self.recorder = recorder
        self.link = link
        self.lines = 0  # whole lines written
        self.unheard = 0  # lines not written: nobody had the port open, or it was full
        self._rng = random.Random(f"{fleet.seed}:serial-garbage")
        self._port: PtyPort | None = None

    def start(self) -> None:
        try:
            self._port = PtyPort(self.link, hold_slave=False)
        except OSError as exc:
            raise SimulatorError(f"serial: cannot create {self.link}: {exc}") from None
        log.info("ln2 monitor lines at %s", self.link)

    @property
    def path(self) -> str:
        return str(self.link)

    def tick(self) -> None:
        """Write this tick's line (or junk, or nothing during a dropout)."""
        port = self._port
        if port is None:
            return
        port.discard_input()
        junk = self.fleet.take_garbage(DEVICE)
        if not junk and self.fleet.silent(DEVICE):
            return
        if not port.listener_present():
            self.unheard += 1
            return
        level = round(self.fleet.readings(DEVICE)["level"], 1)
        data = garbage(self._rng, 24) + b"\n" if junk else ln2_line(level)
        try:
            written = os.write(port.master, data)
        except OSError:  # BlockingIOError when full; EIO if the reader just left
            written = 0
        if written < len(data):
            # Finish a partial line so the next one starts clean; if even that fails,
            # the reader sees a broken line, which it must reject anyway.
            if written:
                with contextlib.suppress(OSError):
                    os.write(port.master, b"\n")
            self.unheard += 1
            return
        if not junk:
            self.lines += 1
            self.recorder.sent(f"{DEVICE}.level", level, "serial", None)

    def stop(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None
