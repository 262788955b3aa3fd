"""The MQTT driver: paho-mqtt 2.x on the asyncio loop, each PUBLISH acked after its commit.

Over 400 lines on purpose: one connection's state (session, paho's sockets on the loop,
unacked message ids) is shared by every method; split, it would be passed around instead.

paho is driven the way aiomqtt does it, without a network thread: its socket callbacks
register the socket with the event loop (`add_reader`/`add_writer`) and a small task runs
its housekeeping (`loop_misc`: keepalive). Every readable event drains what the socket
holds, decodes the batch (`drivers.payload`) and hands it to the sink in one `submit`; the
durable log's writer commits it with whatever else is queued (group commit) and only then
do we send the PUBACKs. A gateway killed between receive and commit gets the messages again
from its persistent session (fixed client id, MQTT 5 with a session expiry); readings with a
sensor time are de-duplicated by the log, others carry `dup: true`.

A batch is submitted as soon as it is read; the log may hold it for its commit window
(a few ms, bounding disk syncs per second) unless half the broker's in-flight window is
unacknowledged: then it is marked urgent, since the broker sends nothing more until we ack
(throughput is the broker's window over commit latency).

Brokers that speak only MQTT 3.1.1 (amqtt, older mosquitto, many PLC and cloud brokers):
with `protocol: auto` (the default) a version-5 CONNECT refused as "unsupported protocol
version", closed without any CONNACK or unanswered for AUTO_ANSWER_S is retried at once as
3.1.1, which this driver keeps using once a session is up; `protocol: "3.1.1"` skips the
attempt. 3.1.1 keeps the persistent session
(clean session off), the manual acks after commit and the lean receive path; it has no
Receive Maximum, so the broker's own in-flight limit is the window (MQTT311_INFLIGHT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import Counter, Gauge

from drivers.base import ReadingSink
from drivers.mqtt_client import (
    UNSUPPORTED_PROTOCOL_VERSION,
    Connection,
    LeanClient,
    path_or_none,
    refusal_hint,
)
from drivers.payload import MAX_PAYLOAD, Decoded, Router, decode
from edgeconfig import Mqtt, Sensor, read_secret
from runtime.backoff import Backoff, RetryLog
from runtime.clock import Clock
from runtime.errors import ConfigError, ConfigIssue
from runtime.health import Health, State

log = logging.getLogger("tracseq.drivers.mqtt")

MESSAGES = Counter("tracseq_mqtt_messages", "MQTT messages received", ["connection"])
CONNECTED = Gauge("tracseq_mqtt_connected", "1 while connected to the broker", ["connection"])
RECONNECTS = Counter("tracseq_mqtt_reconnects", "Connections lost and retried", ["connection"])
SKIPPED = Counter(
    "tracseq_mqtt_skipped", "Messages a sensor's when: conditions left out", ["connection"]
)
UNAVAILABLE = Counter(
    "tracseq_mqtt_unavailable",
    "Messages in which a sensor said it has no value (no_value_states)",
    ["connection"],
)
SENSOR_UNAVAILABLE = Gauge(
    "tracseq_mqtt_sensor_unavailable",
    "1 while a sensor's latest message said it has no value (no_value_states)",
    ["sensor"],
)

RECEIVE_MAXIMUM = 1000  # unacknowledged PUBLISHes the broker may send us (MQTT 5)
# A 3.1.1 session has no Receive Maximum: the broker's own limit applies (mosquitto's
# max_inflight_messages defaults to 20 for 3.1.1 clients), so a batch is urgent sooner.
MQTT311_INFLIGHT = 20
SESSION_EXPIRY_S = 7 * 86400  # how long the broker keeps our session while we are away
CONNECT_TIMEOUT_S = 15.0
AUTO_ANSWER_S = 5.0  # `protocol: auto`: a v5 CONNECT unanswered this long is tried as 3.1.1
_READS_PER_EVENT = 2000  # packets read per readable event before yielding to the loop


class ConnectFailed(Exception):
    """The broker could not be reached or refused us; retried with backoff."""


class FallBack(ConnectFailed):
    """`protocol: auto` and the broker does not take MQTT 5: retried at once with 3.1.1."""


class MqttDriver:
    """Subscribes to the sensors' topics on one broker connection; see the module docstring."""

    def __init__(self, name: str, settings: Mqtt, sensors: list[Sensor], clock: Clock) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.router = Router(sensors)
        self.client_id = settings.client_id or f"tracseq-{name}"
        self.version = "3.1.1" if settings.protocol == "3.1.1" else "5"
        self._version_proven = settings.protocol != "auto"  # auto: once a session is up
        try:
            self.zone = ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            where = f"connections.{name}.mqtt.timezone"
            message = f"unknown time zone {settings.timezone!r} (use e.g. UTC or Europe/Berlin)"
            raise ConfigError([ConfigIssue("config", None, None, where, message)]) from None
        self.max_payload = MAX_PAYLOAD
        self._state: State = "starting"
        self._detail = ""
        self._counters = {
            "messages": 0,
            "rejects": 0,
            "reconnects": 0,
            "unacked": 0,
            "skipped": 0,
            "unavailable": 0,
        }
        self._unavailable: set[str] = set()  # sensors whose latest message had no value
        self._conn: Connection | None = None
        self._sink: ReadingSink | None = None
        self._batch: list[tuple[bytes, bytes, int, bool, int]] = []
        self._loop_thread = 0
        self._commit_failed: asyncio.Event | None = None
        self._established = False
        # The broker sends at most this many unacknowledged PUBLISHes (our Receive Maximum);
        # a batch submitted with half of them unacked is committed without a commit window.
        self.inflight_window = RECEIVE_MAXIMUM
        self._messages = MESSAGES.labels(connection=name)
        self._connected = CONNECTED.labels(connection=name)
        self._reconnects = RECONNECTS.labels(connection=name)

    # --- the Driver interface ----------------------------------------------------------

    def health(self) -> Health:
        counters = {**self._counters, "sensors_unavailable": len(self._unavailable)}
        detail = self._detail
        if self._unavailable:  # shown in /readyz: which sensors say they have no value
            shown = ", ".join(sorted(self._unavailable)[:5])
            more = len(self._unavailable) - 5
            detail += f"; no value from {shown}" + (f" and {more} more" if more > 0 else "")
        return Health(self._state, detail, counters)

    async def run(self, sink: ReadingSink) -> None:
        """Connect, consume and reconnect with backoff until cancelled."""
        self._sink = sink
        self._loop_thread = threading.get_ident()
        self._commit_failed = asyncio.Event()
        backoff = Backoff(base=0.5, cap=30.0)
        retry = RetryLog(log, f"MQTT connection {self.name} to {self._where()}")
        try:
            while True:
                self._established = False
                try:
                    await self._session(backoff, retry)
                except FallBack:
                    continue
                except (ConnectFailed, OSError, ssl.SSLError) as exc:
                    if not self._version_proven:  # 3.1.1 did not help either: 5 again next
                        self.version = "5"
                    problem = str(exc) or type(exc).__name__
                    self._set_state("disconnected", f"{self._where()}: {problem}")
                    retry.failed(problem)
                if self._established:  # it was up, and is lost: count it
                    self._reconnects.inc()
                    self._counters["reconnects"] += 1
                    retry.failed(self._detail.removeprefix(f"{self._where()}: "))
                await self.clock.sleep(backoff.next_delay())
        finally:
            self._set_state("stopped", "")

    # --- one connection ----------------------------------------------------------------

    async def _session(self, backoff: Backoff, retry: RetryLog) -> None:
        """Run one connection until it is lost (`_established` once subscribed)."""
        loop = asyncio.get_running_loop()
        client = self._new_client()
        conn = Connection(client, loop)
        self._conn = conn
        self._batch = []
        assert self._commit_failed is not None
        self._commit_failed.clear()
        try:
            await loop.run_in_executor(None, lambda: self._connect(client))
            ok, reason = await self._connack(conn)
            if not ok:
                hint = refusal_hint(reason, self.settings)
                raise ConnectFailed(f"broker refused the connection: {reason}{hint}")
            session = conn.connected.result()[1]
            if self.version == "5":
                client.subscribe(
                    [
                        (f, SubscribeOptions(qos=1, retainHandling=1))
                        for f in self.router.subscriptions
                    ]
                )
            else:
                client.retained_may_repeat = session == "resumed"
                client.subscribe([(f, 1) for f in self.router.subscriptions])
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                refused = await asyncio.shield(conn.subscribed)
            detail = f"{self._where()} session={session} mqtt={self.version}"
            if refused:
                self._set_state("degraded", f"{detail}; subscription refused: {', '.join(refused)}")
                log.error("MQTT %s: the broker refused %s", self.name, ", ".join(refused))
            else:
                self._set_state("connected", detail)
            self._established = True
            self._version_proven = True
            backoff.reset()
            retry.succeeded()
            await self._until_lost(conn)
        except TimeoutError:
            raise ConnectFailed(
                f"no answer from {self._where()} within {CONNECT_TIMEOUT_S:g}s"
            ) from None
        finally:
            self._close(conn)

    def _connect(self, client: LeanClient) -> None:
        """CONNECT with a persistent session (blocking: run in an executor)."""
        keepalive = max(5, int(self.settings.keepalive))
        if self.version != "5":  # 3.1.1: clean session off is set on the client
            self.inflight_window = min(self.inflight_window, MQTT311_INFLIGHT)
            client.connect(self.settings.host, self.settings.port, keepalive=keepalive)
            return
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = self.inflight_window
        client.connect(
            self.settings.host,
            self.settings.port,
            keepalive=keepalive,
            clean_start=False,
            properties=props,
        )

    async def _connack(self, conn: Connection) -> tuple[bool, str]:
        """Wait for CONNACK; with `protocol: auto`, raise FallBack if MQTT 5 is not taken."""
        may_fall_back = self.settings.protocol == "auto" and self.version == "5"
        wait = AUTO_ANSWER_S if may_fall_back else CONNECT_TIMEOUT_S
        try:
            async with asyncio.timeout(wait):
                ok, reason = await asyncio.shield(conn.connected)
        except TimeoutError:
            if may_fall_back:
                self._fall_back(f"did not answer an MQTT 5 CONNECT within {wait:g}s")
            raise ConnectFailed(f"no answer from {self._where()} within {wait:g}s") from None
        if not ok and may_fall_back:
            if not conn.connack:
                self._fall_back("closed the connection instead of answering an MQTT 5 CONNECT")
            if conn.reason_code == UNSUPPORTED_PROTOCOL_VERSION:
                self._fall_back("refused MQTT 5 (unsupported protocol version)")
        return ok, reason

    def _fall_back(self, why: str) -> None:
        log.warning(
            'MQTT %s: %s %s; trying MQTT 3.1.1 (protocol: "3.1.1" skips this attempt)',
            self.name,
            self._where(),
            why,
        )
        self.version = "3.1.1"
        raise FallBack(f"{self._where()} {why}")

    async def _until_lost(self, conn: Connection) -> None:
        assert self._commit_failed is not None
        failed: asyncio.Future[Any] = asyncio.ensure_future(self._commit_failed.wait())
        lost: asyncio.Future[Any] = conn.lost
        try:
            while not conn.lost.done():
                done, _ = await asyncio.wait({lost, failed}, timeout=1.0)
                if failed in done:
                    self._set_state("degraded", "the durable log failed to commit; reconnecting")
                    raise ConnectFailed("the durable log failed to commit")
                conn.client.loop_misc()
            self._set_state(
                "disconnected", f"{self._where()}: connection lost: {conn.lost.result()}"
            )
        finally:
            failed.cancel()

    def _close(self, conn: Connection) -> None:
        conn.closed = True
        self._connected.set(0)
        if self._batch:
            self._flush(conn)
        with contextlib.suppress(Exception):
            if conn.client.is_connected():
                conn.client.disconnect()
                conn.client.loop_write()
        with contextlib.suppress(Exception):
            conn.client._sock_close()  # paho has no public close without I/O
        self._unregister(conn)

    def _new_client(self) -> LeanClient:
        client = LeanClient(self.client_id, self._on_publish, self.version)
        settings = self.settings
        if settings.username is not None:
            password = read_secret(settings.password_file)
            if settings.password_file is not None and password is None:
                raise ConnectFailed(f"cannot read password_file {settings.password_file}")
            client.username_pw_set(settings.username, password)
        if settings.tls or settings.ca_file is not None:
            try:
                client.tls_set(
                    ca_certs=path_or_none(settings.ca_file),
                    certfile=path_or_none(settings.cert_file),
                    keyfile=path_or_none(settings.key_file),
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConnectFailed(f"TLS set-up failed: {exc}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    # --- paho callbacks (loop thread, except socket open during connect) ---------------

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        conn = self._conn
        if conn is None or conn.client is not client or conn.connected.done():
            return
        conn.connack = True
        conn.reason_code = reason.value
        if reason.is_failure:
            conn.connected.set_result((False, str(reason)))
        else:
            self._connected.set(1)
            conn.connected.set_result((True, "resumed" if flags.session_present else "new"))

    def _on_disconnect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        conn = self._conn
        if conn is None or conn.client is not client:
            return
        self._connected.set(0)
        if not conn.connected.done():
            conn.connected.set_result((False, str(reason)))
        if not conn.lost.done():
            conn.lost.set_result(str(reason))

    def _on_subscribe(self, client: paho.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        conn = self._conn
        if conn is None or conn.client is not client or conn.subscribed.done():
            return
        refused = [
            f"{topic} ({code})"
            for topic, code in zip(self.router.subscriptions, codes, strict=False)
            if code.is_failure
        ]
        conn.subscribed.set_result(refused)

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, dup: bool, qos: int) -> None:
        self._batch.append((topic, payload, mid, dup, qos))

    def _on_socket_open(self, client: paho.Client, _u: Any, sock: Any) -> None:
        conn = self._conn
        if conn is None or conn.client is not client:
            return
        conn.sock = sock
        self._in_loop(conn, lambda: conn.loop.add_reader(sock, self._readable, conn))

    def _on_socket_close(self, client: paho.Client, _u: Any, sock: Any) -> None:
        conn = self._conn
        if conn is not None and conn.client is client:
            self._in_loop(conn, lambda: self._unregister(conn))

    def _on_register_write(self, client: paho.Client, _u: Any, sock: Any) -> None:
        conn = self._conn
        if conn is not None and conn.client is client:
            self._in_loop(conn, lambda: self._want_write(conn, True))

    def _on_unregister_write(self, client: paho.Client, _u: Any, sock: Any) -> None:
        conn = self._conn
        if conn is not None and conn.client is client:
            self._in_loop(conn, lambda: self._want_write(conn, False))

    def _in_loop(self, conn: Connection, action: Callable[[], None]) -> None:
        # paho calls the socket callbacks from `connect`, which runs in an executor thread.
        if threading.get_ident() == self._loop_thread:
            action()
        else:
            conn.loop.call_soon_threadsafe(action)

    def _want_write(self, conn: Connection, on: bool) -> None:
        if conn.sock is None or (conn.closed and on) or on == conn.writing:
            return
        conn.writing = on
        if on:
            conn.loop.add_writer(conn.sock, conn.client.loop_write)
        else:
            conn.loop.remove_writer(conn.sock)

    def _unregister(self, conn: Connection) -> None:
        if conn.sock is None:
            return
        with contextlib.suppress(Exception):
            conn.loop.remove_reader(conn.sock)
        with contextlib.suppress(Exception):
            conn.loop.remove_writer(conn.sock)
        conn.writing = False
        conn.sock = None

    # --- the hot path ------------------------------------------------------------------

    def _readable(self, conn: Connection) -> None:
        """Drain the socket, then hand the whole batch to the sink in one submit."""
        client = conn.client
        batch = self._batch
        sock = conn.sock
        pending = getattr(sock, "pending", None)
        for _ in range(_READS_PER_EVENT):
            before = len(batch)
            client.loop_read()
            if conn.sock is None:
                break
            if len(batch) == before and not (pending is not None and pending()):
                break
        if batch:
            self._flush(conn)

    def _flush(self, conn: Connection) -> None:
        batch = self._batch
        self._batch = []
        out = Decoded()
        received = self.clock.time()
        zone = self.zone
        match = self.router.match
        mids: list[int] = []
        max_payload = self.max_payload
        for raw_topic, payload, mid, dup, qos in batch:
            try:
                topic = raw_topic.decode()
                matches = match(topic)
            except UnicodeDecodeError:
                topic = repr(raw_topic)[2:-1]  # shown as escaped bytes; matches nothing
                matches = []
            decode(
                topic,
                payload,
                matches,
                received=received,
                dup=dup,
                zone=zone,
                out=out,
                max_payload=max_payload,
            )
            if qos:
                mids.append(mid)
        count = len(batch)
        self._messages.inc(count)
        self._counters["messages"] += count
        self._counters["rejects"] += len(out.rejects)
        if out.skipped or out.unavailable or self._unavailable:
            self._count_no_values(out)
        self._counters["unacked"] += len(mids)
        assert self._sink is not None
        urgent = self._counters["unacked"] * 2 >= self.inflight_window
        self._sink.submit(
            out.readings,
            out.rejects,
            self._committer(conn, mids),
            urgent=urgent,
            unavailable=out.unavailable,
        )

    def _committer(self, conn: Connection, mids: list[int]) -> Callable[[bool], None]:
        def committed(ok: bool) -> None:  # in the event loop, right after the commit
            self._ack(conn, mids, ok)

        return committed

    def _ack(self, conn: Connection, mids: list[int], ok: bool) -> None:
        self._counters["unacked"] -= len(mids)
        if not ok:
            # Not acknowledged: the broker redelivers after we reconnect.
            log.error(
                "MQTT %s: commit failed, %d messages left unacknowledged", self.name, len(mids)
            )
            if self._commit_failed is not None:
                self._commit_failed.set()
            return
        if conn.closed or conn is not self._conn or conn.lost.done():
            return  # an older connection's ids mean nothing now; the broker redelivers
        ack = conn.client.ack
        for mid in mids:
            ack(mid, 1)

    def _count_no_values(self, out: Decoded) -> None:
        """Skipped messages and sensors that said they have no value (see drivers.payload)."""
        if out.skipped:
            self._counters["skipped"] += out.skipped
            SKIPPED.labels(connection=self.name).inc(out.skipped)
        if out.unavailable:
            self._counters["unavailable"] += len(out.unavailable)
            UNAVAILABLE.labels(connection=self.name).inc(len(out.unavailable))
            for sensor_id in out.unavailable:
                if sensor_id not in self._unavailable:
                    self._unavailable.add(sensor_id)
                    SENSOR_UNAVAILABLE.labels(sensor=sensor_id).set(1)
                    log.warning("MQTT %s: sensor %s says it has no value", self.name, sensor_id)
        for reading in out.readings if self._unavailable else ():
            if reading.sensor_id in self._unavailable:
                self._unavailable.discard(reading.sensor_id)
                SENSOR_UNAVAILABLE.labels(sensor=reading.sensor_id).set(0)
                log.info("MQTT %s: sensor %s has a value again", self.name, reading.sensor_id)

    # --- small things ------------------------------------------------------------------

    def _set_state(self, state: State, detail: str) -> None:
        if state == "connected" and (state != self._state or detail != self._detail):
            log.info("MQTT %s connected: %s", self.name, detail)
        self._state = state
        self._detail = detail

    def _where(self) -> str:
        scheme = "mqtts" if self.settings.tls else "mqtt"
        return f"{scheme}://{self.settings.host}:{self.settings.port} as {self.client_id}"
