"""`tracseq-edge check`: validate a config and print its sensors, or every error."""

from __future__ import annotations

import sys

from edgeconfig import Config, ModbusSource, MqttSource, SerialSource, load_config
from runtime.durations import format_duration
from runtime.errors import ConfigError


def run_check(path: str) -> int:
    """Exit 0 with a table of sensors, or 2 with `file:line:col: path: message` per error."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print(f"{path}: {len(exc.issues)} error(s)", file=sys.stderr)
        return 2
    print(sensor_table(config))
    for warning in [*secret_warnings(config), *transport_warnings(config)]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def sensor_table(config: Config) -> str:
    rows = [("SENSOR", "KIND", "UNIT", "CONNECTION", "SOURCE", "ALARMS")]
    for sensor in config.sensors:
        source = sensor.source
        if isinstance(source, MqttSource):
            where = source.topic + (f" [{source.value}]" if source.value else "")
        elif isinstance(source, ModbusSource):
            where = f"unit {source.unit} {source.register_} {source.type} every " + format_duration(
                source.poll
            )
        else:
            assert isinstance(source, SerialSource)
            where = f"/{source.match}/"
        alarms = ", ".join(sensor.alarms.describe()) or "-"
        rows.append((sensor.id, sensor.kind, sensor.unit, source.connection, where, alarms))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"{len(config.sensors)} sensor(s), {len(config.connections)} connection(s), "
        f"gateway {config.gateway.id}: OK"
    )
    return "\n".join(line.rstrip() for line in lines)


def secret_warnings(config: Config) -> list[str]:
    """Secret files named in the config that cannot be read now (not an error: they may be
    provisioned later, and the daemon retries)."""
    out = []
    files = [("gateway.intake_token_file", config.gateway.intake_token_file)]
    if config.sync is not None:
        files.append(("sync.token_file", config.sync.token_file))
    for name, connection in config.connections.items():
        if connection.mqtt is not None:
            files.append((f"connections.{name}.mqtt.password_file", connection.mqtt.password_file))
    for key, path in files:
        if path is not None and not path.is_file():
            out.append(f"{key}: {path} does not exist yet")
    return out


def transport_warnings(config: Config) -> list[str]:
    """Plain-HTTP sync to another host (the token and readings in clear text)."""
    warning = config.sync.plain_http_warning() if config.sync is not None else None
    return [warning] if warning else []
