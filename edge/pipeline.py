"""The intake pipeline: drivers' readings are normalised and committed to the durable log.

It implements `drivers.base.ReadingSink`. Rejects (from decoders or from normalisation)
go to the log's rejects table in the same group commit and are counted in metrics.
A sensor whose message said it has no value (`no_value_states`) is kept in the log's state
under `unavailable:<sensor id>` (since when) until its next reading, in the same commit,
so `tracseq-edge status` can list it and a restart remembers it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from prometheus_client import Counter

from drivers.base import Committed, Reading, Reject
from edge.entry import Entry
from edge.errors import LogError
from edge.log import DurableLog
from edge.normalize import normalize
from edgeconfig import ModbusSource, MqttSource
from runtime import tracing

log = logging.getLogger("tracseq.edge.pipeline")

UNAVAILABLE_PREFIX = "unavailable:"  # + sensor id -> when it said it has no value (epoch s)

READINGS = Counter("tracseq_edge_readings_total", "Readings accepted into the durable log")
REJECTS = Counter(
    "tracseq_edge_rejects_total", "Payloads rejected (kept in the rejects table)", ["protocol"]
)


class Pipeline:
    """Normalise, then commit: the one way readings enter the log."""

    def __init__(self, log_: DurableLog, clock: Callable[[], float] = time.time) -> None:
        self._log = log_
        self._clock = clock
        self._last_logged: dict[str, tuple[float, int]] = {}
        self._unavailable: dict[str, bytes] = {
            key.removeprefix(UNAVAILABLE_PREFIX): since
            for key, since in log_.state(UNAVAILABLE_PREFIX).items()
        }

    def submit(
        self,
        readings: Sequence[Reading],
        rejects: Sequence[Reject] = (),
        on_commit: Committed | None = None,
        *,
        urgent: bool = False,
        unavailable: Sequence[str] = (),
    ) -> None:
        entries, all_rejects = self._normalize(readings, rejects)
        _trace(entries, len(readings))
        undo: dict[str, bytes | None] = {}
        changes = self._availability(readings, unavailable, undo)

        def committed(seqs: list[int | None] | None) -> None:
            if seqs is None:
                self._restore(undo)  # not on disk: the redelivered batch writes it again
            if on_commit is not None:
                on_commit(seqs is not None)

        # One request per batch: its readings, rejects and state changes commit together.
        self._log.submit(
            entries, committed, rejects=all_rejects, state=changes or None, urgent=urgent
        )

    def _availability(
        self, readings: Sequence[Reading], unavailable: Sequence[str], undo: dict[str, bytes | None]
    ) -> dict[str, bytes | None]:
        """State changes for sensors that said they have no value, or have one again; what
        they replace goes into `undo`. Within a batch a reading wins, as in the driver."""
        if not unavailable and not self._unavailable:
            return {}
        changes: dict[str, bytes | None] = {}
        for sensor_id in unavailable:
            if sensor_id not in self._unavailable:
                undo.setdefault(sensor_id, None)
                since = repr(self._clock()).encode()
                self._unavailable[sensor_id] = since
                changes[UNAVAILABLE_PREFIX + sensor_id] = since
        for reading in readings if self._unavailable else ():
            was = self._unavailable.pop(reading.sensor_id, None)
            if was is not None:
                undo.setdefault(reading.sensor_id, was)
                changes[UNAVAILABLE_PREFIX + reading.sensor_id] = None
        return changes

    def _restore(self, undo: dict[str, bytes | None]) -> None:
        for sensor_id, since in undo.items():
            if since is None:
                self._unavailable.pop(sensor_id, None)
            else:
                self._unavailable[sensor_id] = since

    async def put(self, readings: Sequence[Reading], rejects: Sequence[Reject] = ()) -> None:
        entries, all_rejects = self._normalize(readings, rejects)
        _trace(entries, len(readings))
        if all_rejects:
            self._log.submit(entries=(), rejects=all_rejects)
        await self._log.append(entries)

    def _normalize(
        self, readings: Sequence[Reading], rejects: Sequence[Reject]
    ) -> tuple[list[Entry], list[Reject]]:
        entries: list[Entry] = []
        out_rejects = list(rejects)
        for reading in readings:
            result = normalize(reading, _source_of(reading))
            if isinstance(result, Entry):
                entries.append(result)
            else:
                out_rejects.append(result)
        if entries:
            READINGS.inc(len(entries))
        for reject in out_rejects:
            REJECTS.labels(protocol=_protocol(reject.source)).inc()
            self._log_reject(reject)
        return entries, out_rejects

    def _log_reject(self, reject: Reject) -> None:
        """One line per source per minute (with a count), not one per bad payload."""
        now = time.monotonic()
        last, suppressed = self._last_logged.get(reject.source, (-1e9, 0))
        if now - last < 60.0:
            self._last_logged[reject.source] = (last, suppressed + 1)
            return
        more = f" (+{suppressed} more rejects from here in the last minute)" if suppressed else ""
        log.warning("rejected from %s: %s%s", reject.source, reject.reason, more)
        self._last_logged[reject.source] = (now, 0)
        if len(self._last_logged) > 10_000:
            self._last_logged.clear()


def _trace(entries: list[Entry], received: int) -> None:
    """Start the batch's trace: one span per received batch (tracing on only).

    Only the batch's first entry keeps the traceparent: later spans (commit, XADD, sync)
    parent on or link to the distinct traces of their entries, so one per intake batch is
    enough, and the log does not store the same 55 bytes on every row."""
    if not entries or not tracing.enabled():
        return
    with tracing.batch_span("edge.intake", attributes={"readings": received}) as span:
        entries[0].trace = tracing.traceparent_of(span)


def _source_of(reading: Reading) -> str:
    """Reject source by the convention `<protocol>:<where>` (here: the sensor id)."""
    source = reading.sensor.source
    protocol = (
        "mqtt"
        if isinstance(source, MqttSource)
        else "modbus"
        if isinstance(source, ModbusSource)
        else "serial"
    )
    return f"{protocol}:{source.connection}/{reading.sensor_id}"


def _protocol(source: str) -> str:
    # Bounded label: the part before the first ':' names the protocol ("mqtt:topic").
    head = source.split(":", 1)[0]
    return head if head in ("mqtt", "modbus", "serial", "intake") else "other"


__all__ = ["LogError", "Pipeline"]
