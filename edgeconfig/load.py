"""The one loader of `sensors.yaml`.

`load_config(path)` parses the file once at the edge of the program and returns typed
objects; every problem, not just the first, is reported as `file:line:col: path: message`
in a `ConfigError`. Unknown keys are errors: a typo must never be silently ignored.
Relative paths (data_dir, secret files, CA files) are relative to the config file.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from edgeconfig import alerting
from edgeconfig.base import PLACEHOLDER
from edgeconfig.connections import Connection, Modbus, Mqtt, Serial
from edgeconfig.defaults import KEY as DEFAULTS_KEY
from edgeconfig.defaults import apply_kind_defaults
from edgeconfig.model import Config
from edgeconfig.sensors import Sensor
from edgeconfig.sources import ModbusSource, MqttSource, SerialSource
from runtime import units
from runtime.errors import ConfigError, ConfigIssue
from runtime.yaml_source import YamlDocument, load_yaml

# --- loading -------------------------------------------------------------------------

# Config fields the loader fills in, never keys of a file.
INTERNAL_KEYS = frozenset({"source_file", "config_hash"})
EXTENSION_PREFIX = "x-"  # top-level keys the loader ignores: a place for anchors


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
    for key in sorted(INTERNAL_KEYS & doc.data.keys()):
        issues.append(doc.issue((key,), _unknown_key((key,), doc), key=True))
    issues.extend(apply_kind_defaults(doc))  # `defaults:` merged under the sensors, in place
    # Top-level `x-...` keys hold YAML anchors for shared defaults (as in Compose files).
    data = {
        k: v
        for k, v in doc.data.items()
        if k not in INTERNAL_KEYS
        and k != DEFAULTS_KEY
        and not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))
    }
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, doc))
    issues.extend(_cross_check(doc.data, doc))
    issues.extend(alerting.cross_check(doc.data, doc))
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
        names = [f.alias or n for n, f in model.model_fields.items() if n not in INTERNAL_KEYS]
        if model is Config:
            names.append(DEFAULTS_KEY)  # read by the loader itself (edgeconfig.defaults)
        close = difflib.get_close_matches(key, names, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        else:
            hint = f" (known keys: {', '.join(sorted(names))})"
    return f"unknown key '{key}'{hint}"


def _model_at(loc: tuple[int | str, ...], doc: YamlDocument) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Config
    data: Any = doc.data
    name_next = False  # the part after a `dict[str, Model]` field is a name (outputs.<name>)
    for part in loc:
        if isinstance(data, dict | list):
            try:
                data = data[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                data = None
        if isinstance(part, int) or model is None or name_next:
            name_next = False
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
        name_next = getattr(field.annotation, "__origin__", None) is dict
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
        out.extend(_unit_check(sensor, source, where, doc))
        if source.get("when") and source.get("value") is None:
            out.append(
                doc.issue(
                    (*where, "source", "when"),
                    "when needs source.value (conditions look into a JSON payload)",
                )
            )
        if isinstance(sensor_id, str) and PLACEHOLDER.search(sensor_id):
            topic = source.get("topic")
            if not isinstance(topic, str):
                out.append(doc.issue((*where, "id"), "a templated id ({name}) needs an MQTT topic"))
                continue
            in_topic = set(PLACEHOLDER.findall(topic))
            for placeholder in PLACEHOLDER.findall(sensor_id):
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


def _unit_check(
    sensor: dict[str, Any], source: dict[str, Any], where: tuple[str | int, ...], doc: YamlDocument
) -> list[ConfigIssue]:
    """A wire unit must convert to the sensor's unit (only temperatures convert)."""
    unit = sensor.get("unit")
    if not isinstance(unit, str):
        return []
    out: list[ConfigIssue] = []
    wire = source.get("wire_unit")
    if (
        isinstance(wire, str)
        and units.canonical(wire) is not None
        and units.convert(0.0, wire, unit) is None
    ):
        out.append(
            doc.issue(
                (*where, "source", "wire_unit"),
                f"cannot convert {wire} to the sensor's unit {unit} "
                f"(wire_unit converts temperatures: {units.KNOWN})",
            )
        )
    if source.get("wire_unit_path") is not None:
        if source.get("value") is None:
            out.append(
                doc.issue(
                    (*where, "source", "wire_unit_path"),
                    "wire_unit_path needs source.value (the payload is then JSON)",
                )
            )
        if units.canonical(unit) is None:
            out.append(
                doc.issue(
                    (*where, "source", "wire_unit_path"),
                    f"the sensor's unit {unit} is not a temperature ({units.KNOWN}): "
                    "nothing to convert",
                )
            )
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
    notify = config.notify
    if notify is not None:
        smtp = notify.smtp.model_copy(update={"password_file": resolve(notify.smtp.password_file)})
        notify = notify.model_copy(update={"smtp": smtp})
    return config.model_copy(
        update={"gateway": gateway, "sync": sync, "connections": connections, "notify": notify}
    )
