"""A silent gateway is an alarm: `gateway_offline` after `--offline-after` without a request.

Every gateway that has ever sent a request is watched (it sends at least a heartbeat per
`gateway.heartbeat`, 60 s by default). When none arrived for `offline_after`, the watchdog
stores a `gateway_offline` alarm (origin `central`, subject = the gateway) and publishes it
on the live stream; the next request from that gateway clears it inside its ingest
transaction. The check runs every `offline_after / 4` (at most every 15 s), so the alarm
comes at most that much late; the conditional insert makes a race with a returning
gateway harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from central.metrics import Metrics
from central.storage import SqlStorage, StorageUnavailable
from central.stream import Hub
from runtime.backoff import RetryLog
from runtime.events import ALARM_RAISED, CloudEvent

log = logging.getLogger("tracseq.central.watchdog")
SOURCE = "tracseq-central"
RULE = "gateway_offline"


class Watchdog:
    def __init__(
        self,
        storage: SqlStorage,
        metrics: Metrics,
        hub: Hub,
        offline_after: float,
        clock: Callable[[], float],
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._hub = hub
        self._after = offline_after
        self._clock = clock
        self._retry = RetryLog(log, "checking for silent gateways")
        self.interval = min(max(offline_after / 4, 0.05), 15.0)

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except StorageUnavailable as exc:  # the database is down: try again next round
                self._retry.failed(exc)
            else:
                self._retry.succeeded()
            await asyncio.sleep(self.interval)

    async def check(self) -> int:
        """Raise an alarm for each gateway silent for `offline_after`; returns how many."""
        cutoff = self._clock() - self._after
        raised = 0
        for gateway in await self._storage.silent_gateways(cutoff):
            alarm = await self._storage.raise_offline(gateway, cutoff, self._after)
            if alarm is None:
                continue
            raised += 1
            self._metrics.offline.inc()
            log.warning(
                "gateway %s offline: nothing received for %.0f s",
                gateway,
                alarm.silent_s,
                extra={"gateway": gateway, "alarm_id": alarm.alarm_id},
            )
            self._hub.publish(
                [
                    offline_event(
                        ALARM_RAISED,
                        alarm.alarm_id,
                        gateway,
                        alarm.raised_at,
                        threshold=self._after,
                        value=alarm.silent_s,
                    )
                ]
            )
        return raised


def offline_event(
    type_: str, alarm_id: str, gateway: str, at: float, **data: Any
) -> dict[str, Any]:
    """A `gateway_offline` raised/cleared event for the live stream (source tracseq-central)."""
    payload = {"rule": RULE, "alarm_id": alarm_id, **data}
    return CloudEvent(
        id=f"{alarm_id}:{type_.rsplit('.', 1)[-1]}",
        source=SOURCE,
        type=type_,
        time=at,
        subject=gateway,
        data=payload,
    ).to_dict()
