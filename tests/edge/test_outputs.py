"""Local alarm outputs: a Modbus coil on a real pymodbus server follows the matching alarms.

The rule engine runs on a real durable log (`alarm_rig`); the output writes through the real
coil writer to a real server, which is restarted with its tables cleared (a device that lost
power), and the daemon is restarted in-process with the alarm still active.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edge.daemon import Daemon
from edgeconfig import Config, load_config, parse_config
from runtime.errors import ConfigError
from tests.drivers.modbus_peer import ModbusPeer
from tests.edge.alarm_rig import Rig, running_output, wait_for
from tests.servers import free_port

OUTPUTS = """
outputs:
  beacon: {connection: plc, register: coil 5, match: {kind: [freezer], rule: [high, offline]},
           reassert: 200ms}
"""


def _rig_config(port: int | str) -> Config:
    url = f"tcp://127.0.0.1:{port}" if isinstance(port, int) else f"rtu://{port}?baudrate=115200"
    text = f"""
gateway: {{id: gw-out, site: lab}}
connections:
  broker: {{mqtt: {{url: "mqtt://127.0.0.1:1"}}}}
  plc: {{modbus: {{url: "{url}", timeout: 200ms}}}}
sensors:
  - {{id: ult-1.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: t/ult-1}}, alarms: {{high: {{above: -70}}}}}}
  - {{id: room-1.temp, kind: room, quantity: temperature, unit: degC,
     source: {{connection: broker, topic: t/room-1}}, alarms: {{high: {{above: 25}}}}}}
{OUTPUTS}"""
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


@pytest.fixture
async def peer() -> AsyncIterator[ModbusPeer]:
    server = ModbusPeer(units=(1,))
    await server.start_tcp(free_port())
    try:
        yield server
    finally:
        await server.close()


async def _coil_becomes(peer: ModbusPeer, value: bool, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await peer.coil(1, 5) is not value:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"coil 5 did not become {value}")
        await asyncio.sleep(0.01)


async def _reading(rig: Rig, sensor: str, value: float) -> None:
    rig.clock.advance(1.0)  # each reading its own sensor time (identity: sensor, time)
    await rig.reading(sensor, value)


async def test_coil_is_on_while_a_matching_alarm_is_active_and_reasserted_after_restarts(
    tmp_path: Path, peer: ModbusPeer
) -> None:
    rig = await Rig(tmp_path, config=_rig_config(int(peer.port))).open()
    try:
        async with running_output(rig, "plc") as output:
            await wait_for(lambda: output.health().ready)
            assert await peer.coil(1, 5) is False

            await _reading(rig, "ult-1.temp", -60.0)  # freezer high: matches
            await _coil_becomes(peer, True)
            await _reading(rig, "room-1.temp", 30.0)  # a room alarm does not match
            await _reading(rig, "ult-1.temp", -80.0)  # the freezer clears
            await _coil_becomes(peer, False)
            await wait_for(lambda: output.health().counters == {"on": 0, "active_alarms": 0})

            await _reading(rig, "ult-1.temp", -60.0)
            await _coil_becomes(peer, True)
            await peer.restart_fresh()  # the device lost power: its coils are off
            assert await peer.coil(1, 5) is False
            await _coil_becomes(peer, True)
            await wait_for(lambda: output.health().detail.startswith("on: coil 5"))

        # The daemon restarts while the alarm is still active and the device was reset.
        await rig.restart()
        await peer.set(1, "coil 5", [0])
        async with running_output(rig, "plc") as output:
            await _coil_becomes(peer, True)
            assert list(output.active.values()) == ["ult-1.temp high"]
    finally:
        await rig.stop()


async def test_an_unreachable_device_shows_in_health_and_gets_the_coil_once_back(
    tmp_path: Path, peer: ModbusPeer
) -> None:
    rig = await Rig(tmp_path, config=_rig_config(int(peer.port))).open()
    try:
        await peer.stop()
        async with running_output(rig, "plc") as output:
            await _reading(rig, "ult-1.temp", -60.0)
            await wait_for(lambda: output.health().state == "disconnected")
            assert "coil 5 on 127.0.0.1" in output.health().detail
            await peer.restart_fresh()
            await _coil_becomes(peer, True)
            await wait_for(lambda: output.health().ready)
    finally:
        await rig.stop()


async def test_an_output_on_an_rtu_port_of_its_own(tmp_path: Path) -> None:
    peer = ModbusPeer(units=(1,))
    await peer.start_rtu()
    rig = await Rig(tmp_path, config=_rig_config(peer.port)).open()
    try:
        async with running_output(rig, "plc"):
            await _reading(rig, "ult-1.temp", -60.0)
            await _coil_becomes(peer, True)
            await _reading(rig, "ult-1.temp", -80.0)
            await _coil_becomes(peer, False)
    finally:
        await rig.stop()
        await peer.close()


def _daemon_config(tmp_path: Path, peer_port: int, http_port: int) -> Config:
    path = tmp_path / "sensors.yaml"
    path.write_text(f"""
gateway: {{id: gw-daemon, data_dir: ./var, listen: 127.0.0.1:{http_port}}}
connections:
  plc: {{modbus: {{url: "tcp://127.0.0.1:{peer_port}", timeout: 200ms}}}}
sensors:
  - {{id: ult-2.temp, kind: freezer, quantity: temperature, unit: degC,
     source: {{connection: plc, register: holding 0, type: int16, poll: 100ms}},
     alarms: {{high: {{above: 50}}}}}}
{OUTPUTS}""")
    return load_config(path)


async def _readyz(port: int) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/readyz")
        body: dict[str, object] = response.json()
        return body


async def _metrics(port: int) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/metrics")).text


async def _output_on(port: int) -> int | None:
    try:
        components = (await _readyz(port))["components"]
    except httpx.HTTPError:
        return None
    assert isinstance(components, dict)
    beacon = components.get("output:beacon")
    return None if beacon is None or beacon["state"] != "connected" else int(beacon["on"])


async def _until(probe: object, expected: object, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await probe()) != expected:  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"expected {expected!r}, last {found!r}")
        await asyncio.sleep(0.02)


async def test_daemon_drives_the_coil_shows_it_in_readyz_and_metrics_and_after_a_restart(
    tmp_path: Path, peer: ModbusPeer
) -> None:
    http_port = free_port()
    config = _daemon_config(tmp_path, int(peer.port), http_port)

    async def run_daemon() -> tuple[Daemon, asyncio.Task[int]]:
        daemon = Daemon(config)
        return daemon, asyncio.create_task(daemon.serve())

    daemon, task = await run_daemon()
    try:
        await _until(lambda: _output_on(http_port), 0)
        await peer.set(1, "holding 0", [80])  # the freezer warms above its limit
        await _coil_becomes(peer, True)
        await _until(lambda: _output_on(http_port), 1)
        assert 'tracseq_edge_output_state{output="beacon"} 1.0' in await _metrics(http_port)

        daemon._stop.set()  # what SIGTERM does
        assert await task == 0
        assert await peer.coil(1, 5) is True  # stopping leaves the beacon on
        await peer.set(1, "coil 5", [0])  # someone switched it off while the daemon was away

        daemon, task = await run_daemon()
        await _coil_becomes(peer, True)
        await peer.set(1, "holding 0", [20])
        await _coil_becomes(peer, False)
        await _until(lambda: _output_on(http_port), 0)
    finally:
        daemon._stop.set()
        await task


def test_outputs_name_their_errors_with_file_and_line(tmp_path: Path) -> None:
    text = """gateway: {id: g}
connections:
  plc: {modbus: {url: "tcp://127.0.0.1:502"}}
  broker: {mqtt: {url: "mqtt://127.0.0.1"}}
outputs:
  a: {connection: nowhere, register: coil 1}
  b: {connection: broker, register: coil 1}
  c: {connection: plc, register: holding 3}
  d: {connection: plc, register: coil 2, mach: {kind: freezer}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "sensors.yaml", base_dir=tmp_path)
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "sensors.yaml:6:19: outputs.a.connection: unknown connection 'nowhere' (known: broker, plc)"
    )
    assert lines[1] == (
        "sensors.yaml:7:19: outputs.b.connection: connection 'broker' is not Modbus: "
        "outputs drive coils"
    )
    assert lines[2].startswith("sensors.yaml:8:34: outputs.c.register: an output drives a coil")
    assert lines[3] == (
        "sensors.yaml:9:42: outputs.d.mach: unknown key 'mach' (did you mean 'match'?)"
    )
