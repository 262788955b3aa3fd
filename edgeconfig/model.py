"""The whole configuration: `Config`."""

from __future__ import annotations

from pathlib import Path

from edgeconfig.alerting import Notify, Output
from edgeconfig.base import Model
from edgeconfig.connections import Connection
from edgeconfig.gateway import Gateway, Redis, Sync
from edgeconfig.sensors import Sensor


class Config(Model):
    gateway: Gateway
    redis: Redis | None = None
    sync: Sync | None = None
    connections: dict[str, Connection] = {}
    sensors: list[Sensor] = []
    outputs: dict[str, Output] = {}  # local beacons/buzzers (edge.outputs)
    notify: Notify | None = None  # the edge's fallback e-mail (edge.fallback_notify)

    # Set by load_config: where the file was and a hash of its bytes (gateway.started).
    source_file: Path = Path("sensors.yaml")
    config_hash: str = ""

    def connection_of(self, sensor: Sensor) -> Connection:
        return self.connections[sensor.source.connection]

    def sensors_on(self, connection: str) -> list[Sensor]:
        return [s for s in self.sensors if s.source.connection == connection]

    def sensor(self, sensor_id: str) -> Sensor | None:
        return next((s for s in self.sensors if s.id == sensor_id), None)
