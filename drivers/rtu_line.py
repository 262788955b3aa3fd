"""RTU line discipline: after a failed poll, an answer counts only if it came alone.

Modbus RTU frames carry no transaction id, so an answer names neither the request it
answers nor when it was asked. pymodbus (3.x) clears its receive buffer when it sends a
request, drops a frame that arrives while no request waits, skips frames of another unit,
and takes the first frame of the right unit as the answer, whatever its function or length.
So when a slave answers after our timeout and that late answer arrives after the next
request went out, pymodbus hands it over as the answer to the next request: an old value
stamped with a new time. pymodbus cannot tell; the driver watches the line itself, through
pymodbus's packet and PDU trace hooks, and only while the line is *suspect* (after a failed
poll: timeout, CRC error, wrong or stray answer, lost connection):

- the next request waits until nothing has arrived for one request timeout (a late answer
  in that silence arrives while no request waits, and pymodbus drops it);
- its answer counts only if it came alone: the bytes that held it held nothing more, and
  nothing else arrives until one timeout after the request was sent. Two frames for one
  request mean one of them answers an earlier request, and which one cannot be told, so the
  poll fails (result `mismatch`) and the line stays suspect. An answer that came alone makes
  the line clean again.

A clean line costs nothing; a suspect one costs at most two timeouts once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymodbus.pdu import ModbusPDU

from runtime.clock import Clock

_RTU_OVERHEAD = 4  # unit id, function code (the PDU's payload between them) and the CRC
_GIVE_UP = 5  # a line that chatters for this many timeouts gets the request anyway


@dataclass(slots=True)
class RtuLine:
    """What arrived on one RTU port, relative to the request last sent."""

    clock: Clock
    quiet: float  # the request timeout: how long the line must stay silent
    suspect: bool = False
    _failed_at: float = 0.0
    _last_rx: float = 0.0
    _sent_at: float = 0.0
    _buffered: int = 0  # bytes pymodbus held when it last looked for a frame
    _answered: bool = False  # a frame was decoded since the request was sent
    _stray: bool = False  # more bytes than that one frame arrived

    def packet(self, sending: bool, data: bytes) -> None:
        """pymodbus's packet trace: a frame sent, or its receive buffer after new bytes."""
        now = self.clock.monotonic()
        if sending:
            self._sent_at = now
            self._buffered, self._answered, self._stray = 0, False, False
            return
        self._last_rx = now
        self._buffered = len(data)
        if self._answered:
            self._stray = True

    def received(self, pdu: ModbusPDU) -> None:
        """pymodbus's PDU trace for a frame it decoded from the bytes it last held."""
        if self._answered or self._buffered > len(pdu.encode()) + _RTU_OVERHEAD:
            self._stray = True
        self._answered = True

    def failed(self) -> None:
        """A poll failed: a late answer may still be on its way."""
        self.suspect = True
        self._failed_at = self.clock.monotonic()

    async def settle(self) -> None:
        """Before a request on a suspect line: wait until it has been silent for `quiet`."""
        if not self.suspect:
            return
        give_up = self.clock.monotonic() + _GIVE_UP * self.quiet
        while True:
            now = self.clock.monotonic()
            until = max(self._failed_at, self._last_rx) + self.quiet
            if now >= until or now >= give_up:
                return
            await self.clock.sleep(min(until, give_up) - now)

    async def came_alone(self) -> bool:
        """After an answer: True when nothing else arrived for it (always, on a clean line)."""
        if not self.suspect:
            return True
        wait = self._sent_at + self.quiet - self.clock.monotonic()
        if wait > 0:
            await self.clock.sleep(wait)
        if self._stray:
            return False
        self.suspect = False
        return True
