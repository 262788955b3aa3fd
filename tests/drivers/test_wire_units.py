"""The unit on the wire: `source.wire_unit` and a unit the message states
(`source.wire_unit_path`, a serial `unit` group) become the sensor's unit, on every driver."""

from __future__ import annotations

import os
import tty
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drivers.base import Reading
from drivers.modbus import ModbusDriver
from drivers.payload import Decoded, Router, decode
from drivers.serial import SerialDriver
from edge.entry import Entry
from edge.normalize import normalize
from edgeconfig import Calibration, Config, parse_config
from runtime.backoff import Backoff
from runtime.clock import SystemClock
from runtime.errors import ConfigError
from tests.drivers.modbus_peer import ModbusPeer
from tests.drivers.pipeline_log import committed_log, eventually, running
from tests.servers import free_port

TASMOTA = "tele/incubator-3/SENSOR"


def config(connection: str, sensors: str) -> Config:
    text = f"gateway: {{id: gw-test}}\nconnections:\n  c:\n    {connection}\nsensors:\n{sensors}"
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


def sensor(sid: str, source: str, unit: str = "degC", extra: str = "") -> str:
    return (
        f"  - {{id: {sid}, kind: fridge, quantity: temperature, unit: {unit}, "
        f"source: {{connection: c, {source}}}{extra}}}\n"
    )


def tasmota(source_extra: str, unit: str = "degC") -> Config:
    return config(
        "mqtt: {url: 'mqtt://127.0.0.1:1883'}",
        sensor(
            "incubator-3.temp",
            f"topic: {TASMOTA}, value: DS18B20.Temperature, time: Time{source_extra}",
            unit,
        ),
    )


def stored(cfg: Config, payload: bytes) -> Entry | str:
    """What one MQTT message becomes after decoding and normalising (or the reject reason)."""
    out = Decoded()
    router = Router(cfg.sensors)
    decode(
        TASMOTA,
        payload,
        router.match(TASMOTA),
        received=1.8e9,
        dup=False,
        zone=ZoneInfo("UTC"),
        out=out,
    )
    if out.rejects:
        return out.rejects[0].reason
    result = normalize(out.readings[0], "mqtt")
    return result if isinstance(result, Entry) else result.reason


def value_of(result: Entry | str) -> float:
    assert isinstance(result, Entry), result
    return float(result.data["value"])


def payload(temperature: float, unit: str | None) -> bytes:
    tail = "" if unit is None else f',"TempUnit":"{unit}"'
    return (
        f'{{"Time":"2026-11-24T10:00:00","DS18B20":{{"Id":"0316A27962FF",'
        f'"Temperature":{temperature}}}{tail}}}'
    ).encode()


def test_tasmota_in_fahrenheit_is_stored_in_celsius() -> None:
    cfg = tasmota(", wire_unit_path: TempUnit")
    assert value_of(stored(cfg, payload(39.9, "F"))) == pytest.approx(4.3889, abs=1e-4)
    assert value_of(stored(cfg, payload(37.1, "C"))) == 37.1


def test_a_payload_without_its_unit_falls_back_to_wire_unit() -> None:
    cfg = tasmota(", wire_unit: degF, wire_unit_path: TempUnit")
    assert value_of(stored(cfg, payload(39.9, None))) == pytest.approx(4.3889, abs=1e-4)
    assert value_of(stored(cfg, payload(4.5, "C"))) == 4.5  # the payload's own unit wins


def test_a_fahrenheit_sensor_takes_kelvin_from_the_wire() -> None:
    cfg = tasmota(", wire_unit: K", unit="degF")
    assert value_of(stored(cfg, payload(277.59, None))) == pytest.approx(39.992, abs=1e-9)


def test_an_unknown_unit_in_the_payload_is_a_reject_naming_the_field() -> None:
    cfg = tasmota(", wire_unit_path: TempUnit")
    reason = stored(cfg, payload(39.9, "R"))
    assert reason == f"{TASMOTA}: field TempUnit 'R' is not a known unit (degC, degF, K, C, F)"


def test_calibration_is_applied_in_the_sensors_unit() -> None:
    cfg = tasmota(", wire_unit: degF", unit="degC")
    calibrated = cfg.sensors[0].model_copy(update={"calibration": Calibration(offset=-0.5)})
    reading = Reading(calibrated, calibrated.id, 41.0, 1.8e9)  # 41 °F = 5 °C
    assert value_of(normalize(reading, "mqtt")) == pytest.approx(4.5)


@pytest.mark.parametrize(
    ("source_extra", "unit", "message"),
    [
        (", wire_unit: degR", "degC", "unknown wire_unit 'degR' (use degC, degF, K)"),
        (", wire_unit: degF", "percent", "cannot convert degF to the sensor's unit percent"),
        (", wire_unit_path: TempUnit", "ppm", "the sensor's unit ppm is not a temperature"),
    ],
)
def test_wire_unit_mistakes_are_config_errors(source_extra: str, unit: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tasmota(source_extra, unit)
    assert message in str(caught.value)
    assert "sensors.yaml:6:" in str(caught.value)


async def test_modbus_register_in_fahrenheit_and_kelvin(tmp_path: Path) -> None:
    peer = ModbusPeer(units=(1,))
    await peer.start_tcp(free_port())
    try:
        await peer.set(1, "input 1", [399])  # 39.9 °F x10
        await peer.set(1, "input 2", [27759])  # 277.59 K x100
        cfg = config(
            f"modbus: {{url: 'tcp://127.0.0.1:{peer.port}', timeout: 200ms}}",
            sensor("fridge.f", "register: input 1, scale: 0.1, poll: 10s, wire_unit: degF")
            + sensor("fridge.k", "register: input 2, scale: 0.01, poll: 10s, wire_unit: K"),
        )
        settings = cfg.connections["c"].modbus
        assert settings is not None
        driver = ModbusDriver(
            "c", settings, cfg.sensors_on("c"), SystemClock(), reconnect=Backoff(0.05, 0.2)
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: len(out.log.read_now(0, 100)) >= 2)
            got = {e.subject: e.data for e in await out.readings()}
    finally:
        await peer.close()
    assert got["fridge.f"]["value"] == pytest.approx(4.3889, abs=1e-4)
    assert got["fridge.f"]["unit"] == "degC"
    assert got["fridge.k"]["value"] == pytest.approx(4.44, abs=1e-9)


async def test_serial_lines_state_their_unit_or_use_wire_unit(tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    port = tmp_path / "ttyUSB0"
    port.symlink_to(os.ttyname(slave))
    try:
        cfg = config(
            f'serial: {{port: "{port}", baudrate: 9600}}',
            sensor("fridge.t", r"""match: '^T= *(?P<value>-?[\d.]+) *(?P<unit>\S+)$'""")
            + sensor("fridge.k", r"""match: '^K (?P<value>[\d.]+)$', wire_unit: K"""),
        )
        settings = cfg.connections["c"].serial
        assert settings is not None
        driver = SerialDriver(
            "c", settings, cfg.sensors_on("c"), SystemClock(), reopen=Backoff(0.05, 0.2)
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: driver.health().state == "connected")
            os.write(master, b"T= 39.9 'F\nT= 4.4 'C\nK 277.59\nT= 4.4 R\n")
            await eventually(lambda: len(out.log.read_now(0, 100)) >= 3 and out.rejects() != [])
            values = [(e.subject, e.data["value"]) for e in await out.readings()]
            reasons = [r for _, r, _ in out.rejects()]
    finally:
        for fd in (master, slave):
            os.close(fd)
    assert values == [
        ("fridge.t", pytest.approx(4.3889, abs=1e-4)),
        ("fridge.t", 4.4),
        ("fridge.k", pytest.approx(4.44, abs=1e-9)),
    ]
    assert reasons == ["fridge.t: unit 'R' is not known (degC, degF, K)"]
