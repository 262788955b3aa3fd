"""The edge gateway's configuration (`sensors.yaml`): typed models, the YAML reader that
keeps line numbers, and the checks that name `file:line:col` for every problem.

It sits below the drivers and the daemon: both receive these typed models, never dicts.
"""

from edgeconfig.alerting import AlarmMatch, Notify, Output, Smtp
from edgeconfig.base import read_secret
from edgeconfig.connections import Connection, Modbus, Mqtt, Serial
from edgeconfig.gateway import Buffer, Gateway, Listen, Redis, Sync
from edgeconfig.load import load_config, parse_config
from edgeconfig.model import Config
from edgeconfig.sensors import (
    Alarms,
    Calibration,
    HighRule,
    LowRule,
    OfflineRule,
    RateRule,
    Sensor,
)
from edgeconfig.sources import (
    Condition,
    ModbusSource,
    MqttSource,
    RegisterType,
    SerialSource,
    Source,
)

__all__ = [
    "AlarmMatch",
    "Alarms",
    "Buffer",
    "Calibration",
    "Condition",
    "Config",
    "Connection",
    "Gateway",
    "HighRule",
    "Listen",
    "LowRule",
    "Modbus",
    "ModbusSource",
    "Mqtt",
    "MqttSource",
    "Notify",
    "OfflineRule",
    "Output",
    "RateRule",
    "Redis",
    "RegisterType",
    "Sensor",
    "Serial",
    "SerialSource",
    "Smtp",
    "Source",
    "Sync",
    "load_config",
    "parse_config",
    "read_secret",
]
