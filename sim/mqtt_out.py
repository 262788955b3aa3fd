"""Publishes the simulated telemetry to an MQTT broker (paho-mqtt 2.x, QoS 1).

The simulator is a load generator, not the gateway: one paho network thread
(`loop_start`) keeps the connection, reconnects with a capped delay when the broker goes
away and resends unacknowledged QoS 1 messages. A reading is recorded as sent when the
broker's PUBACK arrives. At most `max_queued` messages wait unacknowledged; beyond that
new readings are dropped (counted in `dropped`, never recorded) like a sensor whose
broker is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sim.payloads import Message
from sim.record import Recorder

log = logging.getLogger("tracseq.sim.mqtt")


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """Host and port of `mqtt://host[:port]`; ValueError naming the problem."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt":
        raise ValueError(f"{url!r}: only mqtt://host[:port] is supported by the simulator")
    if not parts.hostname:
        raise ValueError(f"{url!r}: missing host")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"{url!r}: invalid port") from None
    return parts.hostname, port


class MqttPublisher:
    """A QoS 1 publisher that records each reading once the broker acknowledged it."""

    def __init__(
        self,
        url: str,
        recorder: Recorder,
        *,
        client_id: str = "tracseq-sim",
        max_queued: int = 20_000,
    ) -> None:
        self.host, self.port = parse_mqtt_url(url)
        self.recorder = recorder
        self.published = 0  # handed to paho
        self.acked = 0  # PUBACK received
        self.dropped = 0  # not published: too many unacknowledged
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, Message] = {}
        self._early: set[int] = set()  # PUBACKs seen before publish() returned the mid
        self._idle = asyncio.Event()  # set (from paho's thread) when nothing is unacked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._failing = False  # logged the first failed attempt; log the recovery
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(max_queued)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def start(self) -> None:
        """Connect in the background; paho keeps retrying while the broker is down."""
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def publish(self, message: Message) -> bool:
        """Queue one message at QoS 1; False if dropped because too many are unacked."""
        info = self._client.publish(message.topic, message.payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            return False
        with self._lock:
            self.published += 1
            if info.mid in self._early:
                self._early.discard(info.mid)
                self._record(message)
            else:
                self._pending[info.mid] = message
        return True

    @property
    def unacked(self) -> int:
        with self._lock:
            return len(self._pending)

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every published message is acknowledged."""
        deadline = time.monotonic() + timeout
        while self.unacked:
            self._idle.clear()
            if not self.unacked:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        return not self.unacked

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        if self.unacked:
            log.warning("mqtt stopped with %d messages unacknowledged (not recorded)", self.unacked)

    def _record(self, message: Message) -> None:
        self.acked += 1
        for sent in message.readings:
            self.recorder.sent(sent.sensor, sent.value, "mqtt", sent.time)

    # paho callbacks, in paho's network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning(
                "mqtt broker %s:%d refused the connection: %s", self.host, self.port, reason
            )
            return
        log.info("mqtt connected to %s:%d", self.host, self.port)
        self._failing = False
        self.connected.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        if not self._failing:
            self._failing = True
            log.warning("mqtt broker %s:%d unreachable; retrying", self.host, self.port)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning("mqtt connection to %s:%d lost: %s", self.host, self.port, reason)
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            message = self._pending.pop(mid, None)
            if message is None:
                self._early.add(mid)
            else:
                self._record(message)
            idle = not self._pending
        if idle and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._idle.set)
