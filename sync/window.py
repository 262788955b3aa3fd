"""The acknowledgement window: batches in flight, in seq order.

Several batches may be in flight at once, and they may be answered out of order. The
sync cursor may only move past a batch when it and every batch before it are done, so a
crash can never skip an unacknowledged event: the cursor is the highest seq below which
everything is acknowledged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Slot:
    last: int  # the batch's highest seq
    received: float  # receive time of its oldest event
    done: bool = False


class AckWindow:
    """Open a slot per batch in seq order; `close` returns where the cursor may move."""

    def __init__(self) -> None:
        self._slots: deque[Slot] = deque()

    def open(self, last: int, received: float) -> Slot:
        if self._slots and last <= self._slots[-1].last:
            raise ValueError(
                f"batches must be opened in seq order ({last} after {self._slots[-1].last})"
            )
        slot = Slot(last, received)
        self._slots.append(slot)
        return slot

    def close(self, slot: Slot) -> int | None:
        """Mark `slot` done; the new cursor position if the done prefix grew, else None."""
        slot.done = True
        position: int | None = None
        while self._slots and self._slots[0].done:
            position = self._slots.popleft().last
        return position

    def oldest_received(self) -> float | None:
        """Receive time of the oldest event not yet acknowledged, None if none in flight."""
        return self._slots[0].received if self._slots else None

    def clear(self) -> None:
        self._slots.clear()

    def __len__(self) -> int:
        return len(self._slots)
