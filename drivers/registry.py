"""Builds one driver per configured connection; the protocol modules are imported lazily.

A driver class is constructed as `cls(name, settings, sensors, clock)` where `settings` is
the connection's typed config (`Mqtt`, `Modbus` or `Serial`) and `sensors` are the sensors
on that connection, in config order.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from drivers.base import CoilWriter, Driver
from edgeconfig import Config
from runtime.clock import Clock

_CLASSES = {
    "mqtt": ("drivers.mqtt", "MqttDriver"),
    "modbus": ("drivers.modbus", "ModbusDriver"),
    "serial": ("drivers.serial", "SerialDriver"),
}


def build_drivers(config: Config, clock: Clock) -> list[Driver]:
    """A driver for every connection that has at least one sensor."""
    drivers: list[Driver] = []
    for name, connection in config.connections.items():
        sensors = config.sensors_on(name)
        if not sensors:
            continue
        module_name, class_name = _CLASSES[connection.protocol]
        cls: Any = getattr(importlib.import_module(module_name), class_name)
        settings = getattr(connection, connection.protocol)
        drivers.append(cls(name, settings, sensors, clock))
    return drivers


def build_coil_writer(config: Config, connection: str, drivers: Sequence[Driver]) -> CoilWriter:
    """The coil writer of a local alarm output on `connection` (a Modbus connection).

    On an RTU bus that one of `drivers` polls, the writer goes through that driver's client
    (a serial port takes one); otherwise it opens a connection of its own (over TCP, beside
    the driver's)."""
    settings = config.connections[connection].modbus
    if settings is None:  # the loader's cross-check refuses this already
        raise ValueError(f"connection {connection!r} is not Modbus")
    from drivers.modbus import ModbusDriver
    from drivers.modbus_out import BusCoilWriter, ModbusCoilWriter

    if settings.is_rtu:
        for driver in drivers:
            if isinstance(driver, ModbusDriver) and driver.name == connection:
                return BusCoilWriter(connection, driver.bus)
    return ModbusCoilWriter(connection, settings)
