"""Local alarm outputs: a beacon or buzzer on a Modbus coil, on while a matching alarm is active.

Each `outputs.<name>` of the config is one `AlarmOutput` component. It follows the durable
log (committed `alarm.raised` / `alarm.cleared` events, in seq order) and, at start, takes
the active alarms from the rule engine's committed state, so a daemon restart with an alarm
still active switches the beacon on again. The coil is written when the wanted state
changes, retried with backoff while the device cannot be reached, and written again every
`reassert` (a device that restarted has forgotten its coils). Shutting down leaves the coil
as it is: an alarm that is active stays visible while the daemon is away.

The state is in /readyz (`output:<name>`: connected and `on` 0/1) and the gauge
`tracseq_edge_output_state{output}`.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from drivers.base import CoilWriter, OutputError
from edge.alarms import store
from edge.alarms.sensors import SensorIndex
from edge.entry import Stored
from edge.fallback_notify import sleep_until
from edge.log import DurableLog
from edgeconfig import Config, Output
from runtime import events
from runtime.backoff import Backoff, RetryLog
from runtime.cancellation import raise_if_cancelled
from runtime.clock import Clock
from runtime.health import Health

log = logging.getLogger("tracseq.edge.outputs")

OUTPUT_STATE = Gauge(
    "tracseq_edge_output_state", "1 while a local alarm output (beacon, buzzer) is on", ["output"]
)


class AlarmOutput:
    """The component behind one `outputs.<name>`."""

    def __init__(
        self,
        name: str,
        output: Output,
        config: Config,
        log_: DurableLog,
        writer: CoilWriter,
        clock: Clock,
    ) -> None:
        self.output_name = name
        self.name = f"output:{name}"
        self._output = output
        self._index = SensorIndex(config.sensors)
        self._site = config.gateway.site
        self._log = log_
        self._writer = writer
        self._clock = clock
        self.active: dict[str, str] = {}  # alarm_id -> "sensor rule" of each matching alarm
        self.written: bool | None = None  # what the device last accepted
        self._error: str | None = None
        self._started = False
        self._wake = asyncio.Event()
        OUTPUT_STATE.labels(output=name).set(0)

    # --- what others see ---------------------------------------------------------------

    @property
    def wanted(self) -> bool:
        return bool(self.active)

    def health(self) -> Health:
        counters = {"on": int(bool(self.written)), "active_alarms": len(self.active)}
        where = f"coil {self._output.address} on {self._writer.where()}"
        if self._error is not None:
            return Health("disconnected", f"{where}: {self._error}", counters)
        if not self._started or self.written is None:
            return Health("starting", where, counters)
        state = "on" if self.written else "off"
        return Health("connected", f"{state}: {where}", counters)

    # --- following the alarms ----------------------------------------------------------

    def _matches(self, sensor: str, rule: str, priority: object) -> bool:
        configured = self._index.resolve(sensor)
        kind = configured.kind if configured is not None else None
        site = (configured.site or self._site) if configured is not None else None
        return self._output.match.matches(
            sensor=sensor,
            rule=rule,
            kind=kind,
            site=site,
            priority=priority if isinstance(priority, str) else None,
        )

    def _on_commit(self, stored: list[Stored]) -> None:
        changed = False
        for entry in stored:
            alarm_id = entry.data.get("alarm_id")
            if not isinstance(alarm_id, str):
                continue
            if entry.type == events.ALARM_RAISED:
                rule = str(entry.data.get("rule"))
                priority = entry.data.get("priority")
                if entry.subject is not None and self._matches(entry.subject, rule, priority):
                    self.active[alarm_id] = f"{entry.subject} {rule}"
                    changed = True
            elif entry.type == events.ALARM_CLEARED:
                changed = self.active.pop(alarm_id, None) is not None or changed
        if changed:
            self._wake.set()

    # --- running -----------------------------------------------------------------------

    async def run(self) -> None:
        # Listen first, then read the state: an alarm committed in between is seen twice
        # (harmless, keyed by alarm_id), never missed.
        self.active.clear()  # a restarted component starts again from the committed state
        self._log.add_listener(self._on_commit)
        backoff = Backoff(base=0.5, cap=min(30.0, self._output.reassert))
        retry = RetryLog(log, f"output {self.output_name}: writing coil on {self._writer.where()}")
        try:
            for alarm in store.active_alarms(self._log.state(store.ALARM_PREFIX)):
                if self._matches(alarm.sensor, alarm.rule, alarm.priority):
                    self.active[alarm.alarm_id] = f"{alarm.sensor} {alarm.rule}"
            self._started = True
            written_at: float | None = None
            while True:
                self._wake.clear()
                wanted = self.wanted
                now = self._clock.monotonic()
                due = (
                    written_at is None
                    or wanted != self.written
                    or now - written_at >= self._output.reassert
                )
                wait = self._output.reassert
                if due:
                    try:
                        await self._writer.write_coil(
                            self._output.unit, self._output.address, wanted
                        )
                    except OutputError as exc:
                        retry.failed(exc)
                        self._error = str(exc)
                        written_at = None
                        wait = backoff.next_delay()
                    else:
                        retry.succeeded()
                        backoff.reset()
                        self._error = None
                        self._accepted(wanted)
                        written_at = self._clock.monotonic()
                    raise_if_cancelled()  # pymodbus may have swallowed a cancellation
                else:
                    assert written_at is not None
                    wait = max(0.0, written_at + self._output.reassert - now)
                await self._wait(wait)
        finally:
            self._log.remove_listener(self._on_commit)
            self._writer.close()
            self._started = False

    async def _wait(self, seconds: float) -> None:
        """Until an alarm change or `seconds` on the clock, whichever comes first."""
        woken = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(sleep_until(self._clock, self._clock.monotonic() + seconds))
        try:
            await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (woken, timer):
                task.cancel()
            await asyncio.gather(woken, timer, return_exceptions=True)

    def _accepted(self, wanted: bool) -> None:
        if wanted != self.written:
            what = ", ".join(sorted(self.active.values())) or "no matching alarm active"
            log.log(
                logging.WARNING if wanted else logging.INFO,
                "output %s %s (coil %d on %s): %s",
                self.output_name,
                "ON" if wanted else "off",
                self._output.address,
                self._writer.where(),
                what,
            )
        self.written = wanted
        OUTPUT_STATE.labels(output=self.output_name).set(int(wanted))
