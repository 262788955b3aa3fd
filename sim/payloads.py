"""Wire formats of the simulated devices: the contract's three MQTT shapes and the LN2 line.

    zigbee2mqtt/freezer-20a   {"battery":97,"humidity":41.5,"linkquality":132,
                               "temperature":-19.6,"voltage":2985}
    tele/incubator-3/SENSOR   {"Time":"2026-11-24T10:00:00","DS18B20":{"Id":"0316A27962FF",
                               "Temperature":37.1},"TempUnit":"C"}
    lab3/ult/F12/telemetry    {"ts":1732442400123,"temp_c":-80.2,"door":"closed"}
    serial line               LVL 045.2 %

Each message carries the readings it holds under the sensor ids of the root sensors.yaml,
with the value as it is on the wire and the sensor time when the payload has one.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from sim.fleet import Fleet


@dataclass(frozen=True, slots=True)
class Sent:
    """One reading inside a message: sensor id, value as sent, sensor time (epoch s)."""

    sensor: str
    value: float
    time: float | None = None


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    readings: tuple[Sent, ...] = ()  # empty for garbage


def zigbee2mqtt(temperature: float, humidity: float, battery: int, linkquality: int) -> bytes:
    """A Zigbee2MQTT temperature/humidity sensor report (no time in the payload)."""
    return orjson.dumps(
        {
            "battery": battery,
            "humidity": humidity,
            "linkquality": linkquality,
            "temperature": temperature,
            "voltage": 2985,
        }
    )


def tasmota_time(epoch: float) -> str:
    """Tasmota's `Time`: whole seconds, no zone (UTC here, the gateway's default)."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def tasmota(temperature: float, epoch: float, probe_id: str) -> bytes:
    """A Tasmota tele/<name>/SENSOR message with one DS18B20 probe."""
    return orjson.dumps(
        {
            "Time": tasmota_time(epoch),
            "DS18B20": {"Id": probe_id, "Temperature": temperature},
            "TempUnit": "C",
        }
    )


def vendor(temperature: float, door_open: bool, ts_ms: int) -> bytes:
    """The ULT vendor's telemetry JSON: epoch milliseconds, degC, door state."""
    return orjson.dumps(
        {"ts": ts_ms, "temp_c": temperature, "door": "open" if door_open else "closed"}
    )


def ln2_line(level: float) -> bytes:
    """The LN2 monitor's line, `LVL 045.2 %` (newline-terminated)."""
    return f"LVL {level:05.1f} %\n".encode("ascii")


def garbage(rng: random.Random, size: int = 48) -> bytes:
    """Junk as a broken device or a noisy line sends it: random bytes, not UTF-8."""
    return b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(size))


def probe_id(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:12].upper()


@dataclass
class MqttTelemetry:
    """Builds each tick's MQTT messages from the fleet; keeps sensor times unique.

    A reading's identity is (sensor id, sensor time): vendor `ts` is kept strictly
    increasing per freezer, and a Tasmota message is skipped when its whole-second
    `Time` would repeat the previous one (so `--rate` above 1/s thins Tasmota out).
    """

    fleet: Fleet
    _last_ms: dict[str, int] = field(default_factory=dict)
    _last_tasmota: dict[str, str] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.fleet.seed}:mqtt-garbage")

    def messages(self, stamp: float) -> list[Message]:
        """Every MQTT message due at one tick; `stamp` is the payload time (epoch s)."""
        fleet = self.fleet
        out: list[Message] = []
        for name in fleet.ults:
            topic = f"lab3/ult/{name}/telemetry"
            if (junk := self._junk(name, topic)) is not None:
                out.append(junk)
                continue
            if fleet.silent(name):
                continue
            r = fleet.readings(name)
            ts_ms = max(int(stamp * 1000), self._last_ms.get(name, 0) + 1)
            self._last_ms[name] = ts_ms
            temp = round(r["temperature"], 1)
            payload = vendor(temp, r["door"] > 0, ts_ms)
            out.append(Message(topic, payload, (Sent(f"ult-{name}.temp", temp, ts_ms / 1000),)))
        for name in ("freezer-20a", *fleet.fridges):
            topic = f"zigbee2mqtt/{name}"
            if (junk := self._junk(name, topic)) is not None:
                out.append(junk)
                continue
            if fleet.silent(name):
                continue
            r = fleet.readings(name)
            temp, rh = round(r["temperature"], 1), round(r["humidity"], 1)
            quality = 100 + self._rng.randrange(60)
            payload = zigbee2mqtt(temp, rh, 97, quality)
            sent = (Sent(f"{name}.temp", temp), Sent(f"{name}.humidity", rh))
            out.append(Message(topic, payload, sent))
        name = "incubator-3"
        topic = f"tele/{name}/SENSOR"
        if (junk := self._junk(name, topic)) is not None:
            out.append(junk)
        elif not fleet.silent(name) and self._last_tasmota.get(name) != tasmota_time(stamp):
            self._last_tasmota[name] = tasmota_time(stamp)
            temp = round(fleet.readings(name)["temperature"], 1)
            payload = tasmota(temp, stamp, probe_id(name))
            out.append(Message(topic, payload, (Sent(f"{name}.temp", temp, float(int(stamp))),)))
        return out

    def _junk(self, name: str, topic: str) -> Message | None:
        if self.fleet.take_garbage(name):
            return Message(topic, garbage(self._rng))
        return None
