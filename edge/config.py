"""The configuration: pydantic models of `sensors.yaml` and the one loader.

`load_config(path)` parses the file once at the edge of the program and returns typed
objects; every problem, not just the first, is reported as `file:line:col: path: message`
in a `ConfigError`. Unknown keys are errors: a typo must never be silently ignored.
Relative paths (data_dir, secret files, CA files) are relative to the config file.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.durations import parse_duration, parse_size
from edge.errors import ConfigError, ConfigIssue
from edge.yaml_source import YamlDocument, load_yaml

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Kind = Literal["freezer", "fridge", "incubator", "ln2", "room"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- gateway -------------------------------------------------------------------------


class Buffer(Model):
    max_bytes: Size = parse_size("2GiB")
    keep_delivered: Duration = parse_duration("7d")


class Listen(Model):
    host: str
    port: int


def _parse_listen(value: Any) -> Any:
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid listen address {value!r} (use e.g. 127.0.0.1:8087)")
        return {"host": host.strip("[]") or "127.0.0.1", "port": int(port)}
    return value


ListenAddress = Annotated[Listen, BeforeValidator(_parse_listen)]


class Gateway(Model):
    id: str = Field(pattern=_NAME, max_length=64)
    site: str = ""
    heartbeat: Duration = 60.0
    data_dir: Path = Path("./var")
    listen: ListenAddress = Listen(host="127.0.0.1", port=8087)
    intake_token_file: Path | None = None
    buffer: Buffer = Buffer()


# --- upstreams -----------------------------------------------------------------------


class Redis(Model):
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = "tracseq:events"
    maxlen: int = Field(default=1_000_000, ge=1000)
    batch_max: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"invalid Redis URL {value!r} (use redis://host:6379/0)")
        return value


class Sync(Model):
    url: str
    token_file: Path | None = None
    ca_file: Path | None = None
    batch_max: int = Field(default=5000, ge=1, le=100_000)
    interval: Duration = 1.0
    timeout: Duration = 30.0

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"invalid central URL {value!r} (use http(s)://host:8095)")
        return value.rstrip("/")

    def token(self) -> str | None:
        """The bearer token: TRACSEQ_SYNC_TOKEN, else the token file; None when neither."""
        env = os.environ.get("TRACSEQ_SYNC_TOKEN")
        if env:
            return env.strip()
        return read_secret(self.token_file)


# --- connections ---------------------------------------------------------------------


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


# --- sensors -------------------------------------------------------------------------


class MqttSource(Model):
    connection: str
    topic: str
    value: str | None = None  # dotted path into a JSON payload; None: the payload is the value
    time: str | None = None  # dotted path of the sensor's timestamp

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not value or "\x00" in value:
            raise ValueError("invalid topic")
        for level in value.split("/"):
            if ("+" in level and level != "+") or ("#" in level and level != "#"):
                raise ValueError(f"invalid topic {value!r}: + and # must fill a whole level")
        if "#" in value and not value.endswith("#"):
            raise ValueError(f"invalid topic {value!r}: # must be the last level")
        return value

    @property
    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(self.topic)

    @property
    def subscription(self) -> str:
        """The topic filter: each `{name}` level becomes `+`."""
        return _PLACEHOLDER.sub("+", self.topic)


_REGISTER = re.compile(r"^(coil|discrete|input|holding)\s+(\d+)$")
RegisterType = Literal["bool", "int16", "uint16", "int32", "uint32", "float32", "float64"]


class ModbusSource(Model):
    connection: str
    unit: int = Field(default=1, ge=0, le=247)
    register_: str = Field(alias="register")
    type: RegisterType = "uint16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    poll: Duration = 10.0

    @field_validator("register_")
    @classmethod
    def _register(cls, value: str) -> str:
        match = _REGISTER.match(value.strip())
        if match is None or int(match.group(2)) > 65535:
            raise ValueError(
                f"invalid register {value!r} (use e.g. 'input 1', 'holding 100', 'coil 0')"
            )
        return value.strip()

    @field_validator("poll")
    @classmethod
    def _poll(cls, value: float) -> float:
        if value < 0.1:
            raise ValueError("poll must be at least 100ms")
        return value

    @property
    def table(self) -> Literal["coil", "discrete", "input", "holding"]:
        table = self.register_.split()[0]
        assert table in ("coil", "discrete", "input", "holding")
        return table  # type: ignore[return-value]

    @property
    def address(self) -> int:
        return int(self.register_.split()[1])

    @property
    def count(self) -> int:
        """Registers (or bits) this value occupies."""
        return {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2}.get(
            self.type, 2 if self.type == "float32" else 4
        )

    @model_validator(mode="after")
    def _bits(self) -> ModbusSource:
        bit_table = self.table in ("coil", "discrete")
        if bit_table and self.type not in ("bool", "uint16"):
            raise ValueError(f"{self.table} registers hold bits: type must be bool")
        if not bit_table and self.type == "bool":
            raise ValueError("type bool is for coil and discrete registers")
        return self


class SerialSource(Model):
    connection: str
    match: str
    sensor: str | None = None  # the value of a `sensor` group this sensor answers to

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if "value" not in pattern.groupindex:
            raise ValueError("the pattern needs a named group (?P<value>...)")
        return value


def _source_kind(value: Any) -> Any:
    if isinstance(value, dict):
        if "topic" in value:
            return MqttSource.model_validate(value)
        if "register" in value:
            return ModbusSource.model_validate(value)
        if "match" in value:
            return SerialSource.model_validate(value)
        raise ValueError("a source needs topic (MQTT), register (Modbus) or match (serial)")
    return value


Source = Annotated[MqttSource | ModbusSource | SerialSource, BeforeValidator(_source_kind)]


class HighRule(Model):
    above: float
    for_: Duration = Field(default=0.0, alias="for")
    clear_below: float | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> HighRule:
        if self.clear_below is not None and self.clear_below > self.above:
            raise ValueError(f"clear_below ({self.clear_below}) must not be above ({self.above})")
        return self

    @property
    def clear(self) -> float:
        return self.above if self.clear_below is None else self.clear_below


class LowRule(Model):
    below: float
    for_: Duration = Field(default=0.0, alias="for")
    clear_above: float | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> LowRule:
        if self.clear_above is not None and self.clear_above < self.below:
            raise ValueError(f"clear_above ({self.clear_above}) must not be below ({self.below})")
        return self

    @property
    def clear(self) -> float:
        return self.below if self.clear_above is None else self.clear_above


class RateRule(Model):
    rise_per_minute: float = Field(gt=0)
    window: Duration = 300.0
    for_: Duration = Field(default=0.0, alias="for")


class OfflineRule(Model):
    after: Duration

    @field_validator("after")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("after must be longer than 0s")
        return value


class Alarms(Model):
    high: HighRule | None = None
    low: LowRule | None = None
    rate: RateRule | None = None
    offline: OfflineRule | None = None

    def describe(self) -> dict[str, dict[str, float]]:
        """The rules as the contract's `sensor.described` event shows them (`for_s`, `after_s`)."""
        out: dict[str, dict[str, float]] = {}
        for name in ("high", "low", "rate", "offline"):
            rule = getattr(self, name)
            if rule is None:
                continue
            fields = rule.model_dump(exclude_none=True)
            if "for_" in fields:
                fields["for_s"] = fields.pop("for_")
            if "after" in fields:
                fields["after_s"] = fields.pop("after")
            if "window" in fields:
                fields["window_s"] = fields.pop("window")
            out[name] = fields
        return out


class Calibration(Model):
    offset: float = 0.0
    scale: float = 1.0


class Sensor(Model):
    id: str = Field(max_length=128)
    kind: Kind
    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    unit: str
    source: Source
    alarms: Alarms = Alarms()
    calibration: Calibration = Calibration()
    range: tuple[float, float] | None = None  # physically possible values; outside = rejected
    site: str | None = None  # defaults to the gateway's site

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._{}-]+", value):
            raise ValueError(f"invalid sensor id {value!r}: letters, digits, . _ - and {{name}}")
        return value

    @property
    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(self.id)

    @property
    def templated(self) -> bool:
        return bool(self.placeholders)


class Config(Model):
    gateway: Gateway
    redis: Redis | None = None
    sync: Sync | None = None
    connections: dict[str, Connection] = {}
    sensors: list[Sensor] = []

    # Set by load_config: where the file was and a hash of its bytes (gateway.started).
    source_file: Path = Path("sensors.yaml")
    config_hash: str = ""

    def connection_of(self, sensor: Sensor) -> Connection:
        return self.connections[sensor.source.connection]

    def sensors_on(self, connection: str) -> list[Sensor]:
        return [s for s in self.sensors if s.source.connection == connection]

    def sensor(self, sensor_id: str) -> Sensor | None:
        return next((s for s in self.sensors if s.id == sensor_id), None)


def read_secret(path: Path | None) -> str | None:
    """The stripped contents of a secret file, or None if unset or unreadable."""
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


# --- loading -------------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file; raises ConfigError listing every problem."""
    file = Path(path)
    display = str(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(display, None, None, "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(display, None, None, "", f"not UTF-8 text: {exc}")]
        ) from None
    config = parse_config(text, display, base_dir=file.resolve().parent)
    return config.model_copy(
        update={"source_file": file, "config_hash": hashlib.sha256(raw).hexdigest()[:16]}
    )


def parse_config(text: str, file: str, *, base_dir: Path) -> Config:
    """Validate config text; `file` is the name errors use, `base_dir` anchors relative paths."""
    doc = load_yaml(text, file)
    issues = list(doc.issues)
    if doc.data is None and issues:
        raise ConfigError(issues)
    if not isinstance(doc.data, dict):  # also a document that is only `null` or `~`
        raise ConfigError([*issues, doc.issue((), "the top level must be a mapping")])
    config: Config | None = None
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, doc))
    issues.extend(_cross_check(doc.data, doc))
    if issues:
        raise ConfigError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    assert config is not None
    return _resolve_paths(config, base_dir)


def _pydantic_issues(exc: ValidationError, doc: YamlDocument) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            out.append(doc.issue(loc, _unknown_key(loc, doc), key=True))
            continue
        if kind == "missing":
            out.append(doc.issue(loc[:-1], f"required key '{loc[-1]}' missing"))
            continue
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind in ("literal_error", "enum"):
            message = f"{message}, got {error.get('input')!r}"
        out.append(doc.issue(loc, message))
    return out


_WRAPPER = re.compile(r"^[a-z-]+\[.*\]$")


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # Union members and validator wrappers appear as extra loc parts; drop them.
    noise = {
        "MqttSource",
        "ModbusSource",
        "SerialSource",
        "function-before[_source_kind(), union[MqttSource,ModbusSource,SerialSource]]",
    }
    # Wrappers look like `function-before[...]`; a user's key such as `0[` is kept (fuzzing).
    return tuple(p for p in loc if not (isinstance(p, str) and (p in noise or _WRAPPER.match(p))))


def _unknown_key(loc: tuple[int | str, ...], doc: YamlDocument) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1], doc)
    hint = ""
    if model is not None:
        names = [f.alias or n for n, f in model.model_fields.items()]
        close = difflib.get_close_matches(key, names, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        else:
            hint = f" (known keys: {', '.join(sorted(names))})"
    return f"unknown key '{key}'{hint}"


def _model_at(loc: tuple[int | str, ...], doc: YamlDocument) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Config
    data: Any = doc.data
    for part in loc:
        if isinstance(data, dict | list):
            try:
                data = data[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                data = None
        if isinstance(part, int) or model is None:
            continue
        if model is Config and part == "connections":
            return None if len(loc) == 1 else _model_for_connection(loc)
        if model is Sensor and part == "source":
            return _source_model(data)
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _model_for_connection(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    if len(loc) == 2:
        return Connection
    models: dict[str, type[BaseModel]] = {"mqtt": Mqtt, "modbus": Modbus, "serial": Serial}
    return models.get(str(loc[2]))


def _source_model(data: Any) -> type[BaseModel] | None:
    if isinstance(data, dict):
        for key, model in (("topic", MqttSource), ("register", ModbusSource)):
            if key in data:
                return model
        if "match" in data:
            return SerialSource
    return None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and isinstance(origin, type) and issubclass(origin, BaseModel):
        return origin
    return None


def _cross_check(data: dict[str, Any], doc: YamlDocument) -> list[ConfigIssue]:
    """Rules that span several keys, checked on the raw document so they are reported even
    when other keys fail: unique ids, known connections, matching placeholders."""
    out: list[ConfigIssue] = []
    connections = data.get("connections")
    protocols: dict[str, str] = {}
    if isinstance(connections, dict):
        for name, body in connections.items():
            if isinstance(body, dict):
                kinds = [k for k in ("mqtt", "modbus", "serial") if k in body]
                protocols[name] = kinds[0] if len(kinds) == 1 else "?"
    sensors = data.get("sensors")
    if not isinstance(sensors, list):
        return out
    seen: dict[str, int] = {}
    for index, sensor in enumerate(sensors):
        if not isinstance(sensor, dict):
            continue
        where: tuple[str | int, ...] = ("sensors", index)
        sensor_id = sensor.get("id")
        if isinstance(sensor_id, str):
            if sensor_id in seen:
                out.append(
                    doc.issue(
                        (*where, "id"),
                        f"duplicate sensor id '{sensor_id}' (first at sensors[{seen[sensor_id]}])",
                    )
                )
            else:
                seen[sensor_id] = index
        source = sensor.get("source")
        if not isinstance(source, dict):
            continue
        model = _source_model(source)
        name = source.get("connection")
        if isinstance(name, str) and model is not None:
            wanted = {MqttSource: "mqtt", ModbusSource: "modbus", SerialSource: "serial"}[model]
            if name not in protocols:
                known = ", ".join(sorted(protocols)) or "none defined"
                out.append(
                    doc.issue(
                        (*where, "source", "connection"),
                        f"unknown connection '{name}' (known: {known})",
                    )
                )
            elif protocols[name] not in (wanted, "?"):
                out.append(
                    doc.issue(
                        (*where, "source"),
                        f"connection '{name}' is {protocols[name]} but this source is {wanted} "
                        "(topic: MQTT, register: Modbus, match: serial)",
                    )
                )
        if isinstance(sensor_id, str) and _PLACEHOLDER.search(sensor_id):
            topic = source.get("topic")
            if not isinstance(topic, str):
                out.append(doc.issue((*where, "id"), "a templated id ({name}) needs an MQTT topic"))
                continue
            in_topic = set(_PLACEHOLDER.findall(topic))
            for placeholder in _PLACEHOLDER.findall(sensor_id):
                if placeholder not in in_topic:
                    out.append(
                        doc.issue(
                            (*where, "id"),
                            f"placeholder {{{placeholder}}} is not in the topic '{topic}'",
                        )
                    )
        bounds = sensor.get("range")
        if (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, int | float) for b in bounds)
            and bounds[0] >= bounds[1]
        ):
            out.append(doc.issue((*where, "range"), "range must be [low, high] with low < high"))
    return out


def _resolve_paths(config: Config, base: Path) -> Config:
    def resolve(path: Path | None) -> Path | None:
        if path is None:
            return None
        expanded = Path(os.path.expanduser(str(path)))
        return expanded if expanded.is_absolute() else base / expanded

    gateway = config.gateway.model_copy(
        update={
            "data_dir": resolve(config.gateway.data_dir),
            "intake_token_file": resolve(config.gateway.intake_token_file),
        }
    )
    sync = config.sync
    if sync is not None:
        sync = sync.model_copy(
            update={"token_file": resolve(sync.token_file), "ca_file": resolve(sync.ca_file)}
        )
    connections = {}
    for name, connection in config.connections.items():
        if connection.modbus is not None and connection.modbus.is_rtu:
            port = connection.modbus.serial_options()["port"]
            if port.startswith(("./", "../")):
                url = connection.modbus.url.replace(f"rtu://{port}", f"rtu://{base / port}", 1)
                connection = connection.model_copy(
                    update={"modbus": connection.modbus.model_copy(update={"url": url})}
                )
        if connection.serial is not None and connection.serial.port.startswith(("./", "../")):
            serial = connection.serial.model_copy(
                update={"port": str(base / connection.serial.port)}
            )
            connection = connection.model_copy(update={"serial": serial})
        if connection.mqtt is not None:
            mqtt = connection.mqtt.model_copy(
                update={
                    key: resolve(getattr(connection.mqtt, key))
                    for key in ("password_file", "ca_file", "cert_file", "key_file")
                }
            )
            connection = connection.model_copy(update={"mqtt": mqtt})
        connections[name] = connection
    return config.model_copy(update={"gateway": gateway, "sync": sync, "connections": connections})
