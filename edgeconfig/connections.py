"""`connections:`: MQTT brokers, Modbus TCP/RTU buses and serial ports."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from edgeconfig.base import Duration, Model

# --- connections ---------------------------------------------------------------------

MqttProtocol = Literal["5", "3.1.1", "auto"]


class Mqtt(Model):
    url: str
    client_id: str | None = None
    qos: Literal[1, 2] = 1
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: Duration = 30.0
    timezone: str = "UTC"  # for ISO 8601 sensor times without a zone
    # "auto": MQTT 5, falling back to 3.1.1 when the broker refuses or drops a v5 CONNECT.
    protocol: MqttProtocol = "auto"

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_text(cls, value: object) -> object:
        # YAML reads `protocol: 5` as a number; "3.1.1" is a string either way.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}"
        if value not in ("5", "3.1.1", "auto"):
            raise ValueError(f'unknown MQTT protocol {value!r} (use "5", "3.1.1" or auto)')
        return value

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"invalid MQTT URL {value!r} (use mqtt://host:1883 or mqtts://...)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            message = f"unknown time zone {value!r} (use e.g. UTC or Europe/Berlin)"
            raise ValueError(message) from None
        return value

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class Modbus(Model):
    url: str
    timeout: Duration = 1.0
    frame_pause: Duration = 0.0  # pause between frames on a bus, for slow devices
    retries: int = Field(default=0, ge=0, le=5)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "tcp" and parts.hostname:
            return value
        if parts.scheme == "rtu" and parts.path:
            query = parse_qs(parts.query)
            unknown = set(query) - {"baudrate", "parity", "stopbits", "bytesize"}
            if unknown:
                raise ValueError(f"unknown RTU option(s) {sorted(unknown)} in {value!r}")
            return value
        raise ValueError(
            f"invalid Modbus URL {value!r} (use tcp://host:502 or rtu:///dev/ttyUSB0?baudrate=9600)"
        )

    @property
    def is_rtu(self) -> bool:
        return urlsplit(self.url).scheme == "rtu"

    def serial_options(self) -> dict[str, Any]:
        """Port and line settings of an RTU URL."""
        parts = urlsplit(self.url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "port": parts.netloc + parts.path,
            "baudrate": int(query.get("baudrate", 9600)),
            "parity": query.get("parity", "N"),
            "stopbits": int(query.get("stopbits", 1)),
            "bytesize": int(query.get("bytesize", 8)),
        }

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 502


class Serial(Model):
    port: str
    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 2] = 1
    terminator: str = "\n"
    encoding: str = "ascii"
    max_line: int = Field(default=256, ge=8, le=65536)

    @model_validator(mode="after")
    def _text(self) -> Serial:
        try:
            codecs.lookup(self.encoding)
            terminator = self.terminator.encode(self.encoding)
        except LookupError:
            raise ValueError(
                f"unknown encoding {self.encoding!r} (use e.g. ascii, utf-8)"
            ) from None
        except UnicodeEncodeError:
            raise ValueError(f"terminator cannot be written in {self.encoding}") from None
        if not terminator:
            raise ValueError('terminator must not be empty (use e.g. "\\n" or "\\r\\n")')
        return self


class Connection(Model):
    mqtt: Mqtt | None = None
    modbus: Modbus | None = None
    serial: Serial | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Connection:
        given = [k for k in ("mqtt", "modbus", "serial") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a connection has exactly one of mqtt, modbus, serial")
        return self

    @property
    def protocol(self) -> Literal["mqtt", "modbus", "serial"]:
        if self.mqtt is not None:
            return "mqtt"
        if self.modbus is not None:
            return "modbus"
        return "serial"
