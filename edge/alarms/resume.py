"""After a restart, a late reading stays late (docs/events.md `## Alarms`).

The rules skip a reading older (by its sensor time) than one they have already evaluated
for that sensor: an MQTT message redelivered behind newer ones after a failed commit. That
newest time lives in memory. After a restart the engine evaluates the readings after its
checkpoint again, and a message whose commit failed before the crash may be redelivered
only now; without the time, such a reading from before an excursion cleared its alarm and
the rest of the late batch raised a second one (the fault suite's kill -9 just after the
disk fault).

So before a sensor's first reading after the restart is evaluated, its rules are given the
newest time of its readings up to the checkpoint that is newer than this reading (a range
of the log's time-first index: the rows after it, not the whole log). Later readings are
judged against this one in memory, as without a restart. A reading without a sensor time
(stamped on receipt) is never redelivered late.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.alarms.rules import Rule
from edge.entry import Stored
from edge.log import DurableLog
from runtime import events


class Resume:
    """Hands each sensor's rules, once, the newest time evaluated before the checkpoint."""

    def __init__(self, log_: DurableLog, checkpoint: int) -> None:
        self._log = log_
        self._checkpoint = checkpoint
        self._done: set[str] = set()

    async def before(
        self, batch: list[Stored], evaluated_seq: int, rules_of: Callable[[str], list[Rule]]
    ) -> None:
        """Call before evaluating `batch` (entries after `evaluated_seq` are new)."""
        for stored in batch:
            subject, time = stored.subject, stored.time
            if stored.seq <= evaluated_seq or stored.type != events.READING:
                continue
            if subject is None or time is None or subject in self._done:
                continue
            self._done.add(subject)
            sensor_rules = rules_of(subject)
            if not sensor_rules:
                continue
            newest = await self._log.newest_reading_time(subject, after=time, upto=self._checkpoint)
            if newest is not None:
                for rule in sensor_rules:
                    rule.resume(newest)
