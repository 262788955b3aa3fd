"""paho's MQTT client with a lean path for incoming QoS 0/1 PUBLISHes, and connection state.

Stock paho builds, for every received PUBLISH, an `MQTTMessage` with an `MQTTMessageInfo`
(and its `threading.Condition`), a full MQTT 5 `Properties` object and a topic-filter walk
for per-topic callbacks: about a third of the intake's CPU at 20,000 messages/s. The driver
needs none of that, so `_handle_publish` is replaced by a parser that takes the topic,
packet id, DUP flag and payload straight from the packet and hands them to `deliver`.
Everything else (CONNECT, SUBSCRIBE, keepalive, PUBACK via `ack`, QoS 2) is paho's own.
paho is pinned below 3.0; this override is exercised by every MQTT test. The TLS wrap is
overridden too, only to close the socket when a handshake fails (tests/drivers/test_mqtt_tls.py).

The same client speaks MQTT 5 or 3.1.1 (`protocol:`), the lean path and manual acks on
both. A 3.1.1 PUBLISH has no properties. 3.1.1 has no Retain Handling either: a resumed
session re-subscribes and the broker replays every retained message (flag set), which
MQTT 5's `retainHandling=1` would not send again. Such a message may be news all the same
(amqtt sends the messages it queued for us while we were away with the flag set), so it is
never dropped: with `retained_may_repeat` it is delivered marked as a possible duplicate.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edgeconfig import Mqtt

# topic (raw bytes), payload, packet id, dup, qos
Deliver = Callable[[bytes, bytes, int, bool, int], None]


# What `protocol:` names, as paho's version constants.
VERSIONS = {"5": paho.MQTTv5, "3.1.1": paho.MQTTv311}
UNSUPPORTED_PROTOCOL_VERSION = 0x84  # CONNACK reason (paho maps 3.1.1's return code 1 to it)


class LeanClient(paho.Client):
    """A paho Client (manual ack) whose received PUBLISHes go to `deliver`."""

    def __init__(self, client_id: str, deliver: Deliver, version: str = "5") -> None:
        protocol = VERSIONS[version]
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            # MQTT 5 asks for the persistent session in CONNECT (clean_start=False).
            clean_session=None if protocol == paho.MQTTv5 else False,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        self.deliver = deliver
        self.version = version
        self.has_properties = protocol == paho.MQTTv5
        self.retained_may_repeat = False  # 3.1.1, resumed session: see the module docstring

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        """paho's TLS wrap, except that a failed handshake closes the socket: paho's own
        leaves the SSLSocket to the garbage collector on every failed attempt. Hostnames are
        checked by the context (`tls_set` turns check_hostname on; we never go insecure)."""
        context = self._ssl_context
        assert context is not None and context.check_hostname, "tls_set() made the context"
        try:
            ssl_sock = context.wrap_socket(
                tcp_sock, server_hostname=self._host, do_handshake_on_connect=False
            )
        except BaseException:
            tcp_sock.close()
            raise
        try:
            ssl_sock.settimeout(self._connect_timeout)
            ssl_sock.do_handshake()
        except BaseException:
            ssl_sock.close()
            raise
        return ssl_sock

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if qos == 2:  # rare (we subscribe with QoS 1); paho's full handling
            return super()._handle_publish()
        packet: bytearray = self._in_packet["packet"]
        try:
            end = 2 + ((packet[0] << 8) | packet[1])
            topic = bytes(packet[2:end])
            mid = 0
            if qos:
                mid = (packet[end] << 8) | packet[end + 1]
                end += 2
            if self.has_properties:
                # MQTT 5 properties: a variable byte integer length, then the properties.
                length = 0
                shift = 0
                while True:
                    byte = packet[end]
                    end += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        return MQTTErrorCode.MQTT_ERR_PROTOCOL
                end += length
        except IndexError:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        if end > len(packet):
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        dup = bool(header & 0x08) or bool(header & 0x01 and self.retained_may_repeat)
        self.deliver(topic, bytes(packet[end:]), mid, dup, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


class Connection:
    """One network connection's state; acks of an older connection are never sent."""

    def __init__(self, client: paho.Client, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.connected: asyncio.Future[tuple[bool, str]] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.subscribed: asyncio.Future[list[str]] = loop.create_future()
        self.sock: Any = None
        self.writing = False
        self.closed = False
        self.connack = False  # False when the broker closed before answering CONNECT
        self.reason_code: int | None = None  # the CONNACK's


def refusal_hint(reason: str, settings: Mqtt) -> str:
    """A hint for the operator after the broker's refusal `reason`."""
    if reason == "Unspecified error" and settings.tls and settings.cert_file is None:
        # A broker that requires client certificates closes the TLS session before CONNACK.
        return " (does the broker require a client certificate? set cert_file and key_file)"
    if reason in ("Not authorized", "Bad user name or password"):
        return " (check username, password_file and the broker's ACL)"
    if reason == "Client identifier not valid":
        return " (check client_id)"
    return ""


def path_or_none(path: Any) -> str | None:
    return None if path is None else str(path)
