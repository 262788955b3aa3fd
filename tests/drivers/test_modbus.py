"""The Modbus driver against a real pymodbus server, over TCP and over RTU on a pty pair.

Faults are real on the wire: a muted unit never answers (timeouts), a garbled unit sends
frames with a broken CRC, a stopped server refuses the connection. The minute-long outage of
the issue is compressed into a second or two by short timeouts, polls and backoff caps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from drivers.registers import encode
from edgeconfig import Config, parse_config
from tests.drivers.modbus_peer import ModbusPeer, fast_driver
from tests.drivers.pipeline_log import Committed, committed_log, eventually, running
from tests.servers import free_port


def _config(url: str, sensors: str, extra: str = "") -> Config:
    text = f"""
gateway: {{id: gw-test}}
connections:
  plc:
    modbus: {{url: "{url}", timeout: 200ms{extra}}}
sensors:
{sensors}
"""
    return parse_config(text, "sensors.yaml", base_dir=Path("."))


def _sensor(sid: str, source: str, quantity: str = "temperature", unit: str = "degC") -> str:
    return (
        f"  - {{id: {sid}, kind: freezer, quantity: {quantity}, unit: {unit}, "
        f"source: {{connection: plc, {source}}}}}\n"
    )


@pytest.fixture(params=["tcp", "rtu"])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[ModbusPeer]:
    server = ModbusPeer(units=(1, 2))
    if request.param == "tcp":
        await server.start_tcp(free_port())
    else:
        await server.start_rtu()
    try:
        yield server
    finally:
        await server.close()


def _url(peer: ModbusPeer) -> str:
    if peer.pump is None:
        return f"tcp://127.0.0.1:{peer.port}"
    return f"rtu://{peer.port}?baudrate=115200"


async def test_register_types_decode_to_exact_values(peer: ModbusPeer, tmp_path: Path) -> None:
    await peer.set(1, "input 1", [0xFCE0])  # -800 as int16, x 0.1 = -80.0
    await peer.set(1, "holding 100", encode(-79.5, "float32", word_order="big"))
    await peer.set(1, "holding 102", encode(4.75, "float32", word_order="little"))
    await peer.set(1, "holding 104", encode(-123456, "int32"))
    await peer.set(1, "holding 106", encode(3_000_000_000, "uint32", word_order="little"))
    await peer.set(1, "holding 110", encode(37.25, "float64", byte_order="little"))
    await peer.set(1, "holding 120", [65535])
    await peer.set(2, "coil 3", [1])
    await peer.set(2, "discrete 9", [0])
    sensors = (
        _sensor("room.temp", "unit: 1, register: input 1, type: int16, scale: 0.1, poll: 10s")
        + _sensor("inc.a", "register: holding 100, type: float32, word_order: big, poll: 10s")
        + _sensor("inc.b", "register: holding 102, type: float32, word_order: little, poll: 10s")
        + _sensor("inc.c", "register: holding 104, type: int32, scale: 0.001, poll: 10s")
        + _sensor(
            "inc.d", "register: holding 106, type: uint32, word_order: little, poll: 10s", "n", "n"
        )
        + _sensor("inc.e", "register: holding 110, type: float64, byte_order: little, poll: 10s")
        + _sensor("inc.f", "register: holding 120, type: uint16, offset: -100, poll: 10s", "x", "u")
        + _sensor("door", "unit: 2, register: coil 3, type: bool, poll: 10s", "door", "bool")
        + _sensor("lid", "unit: 2, register: discrete 9, type: bool, poll: 10s", "door", "bool")
    )
    driver = fast_driver(_config(_url(peer), sensors), "plc")
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: len(out.log.read_now(0, 100)) >= 9)
        got = {e.subject: e.data["value"] for e in await out.readings()}
        assert driver.health().state == "connected"
    assert got == {
        "room.temp": pytest.approx(-80.0),
        "inc.a": -79.5,
        "inc.b": 4.75,
        "inc.c": pytest.approx(-123.456),
        "inc.d": 3_000_000_000,
        "inc.e": 37.25,
        "inc.f": 65435,
        "door": 1.0,
        "lid": 0.0,
    }
    # input, holding (one request for 100..120), coil on unit 2, discrete on unit 2
    assert driver.counters == {"connect_ok": 1, "ok": 4}


async def test_nan_register_value_is_rejected_with_its_register(
    peer: ModbusPeer, tmp_path: Path
) -> None:
    await peer.set(1, "holding 100", encode(math.nan, "float32"))
    await peer.set(1, "holding 102", encode(-80.5, "float32"))
    sensors = _sensor("inc.co2", "register: holding 100, type: float32, poll: 10s") + _sensor(
        "inc.temp", "register: holding 102, type: float32, poll: 10s"
    )
    driver = fast_driver(_config(_url(peer), sensors), "plc")
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: len(out.rejects()) >= 1 and out.log.read_now(0, 10) != [])
        assert await out.values("inc.temp") == [-80.5]
        assert await out.readings("inc.co2") == []
    [(source, reason, payload)] = out.rejects()
    assert source == "modbus:plc/1/holding 100"
    assert "inc.co2" in reason and "not a number" in reason
    assert payload == b"7fc0 0000"


async def test_unit_that_stops_answering_backs_off_alone_and_recovers(
    peer: ModbusPeer, tmp_path: Path
) -> None:
    await peer.set(1, "input 1", [100])
    await peer.set(2, "input 1", [200])
    sensors = _sensor("a.temp", "unit: 1, register: input 1, scale: 0.1, poll: 100ms") + _sensor(
        "b.temp", "unit: 2, register: input 1, scale: 0.1, poll: 100ms"
    )
    driver = fast_driver(_config(_url(peer), sensors, ", frame_pause: 5ms"), "plc")
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: _count(out, "b.temp") >= 2)
        peer.muted.add(2)  # unit 2 goes silent: every request to it times out
        await eventually(lambda: driver.counters.get("timeout", 0) >= 3)
        assert driver.health().state == "degraded"
        assert "unit 2 down" in driver.health().detail
        assert _gauge("plc", "2") == 0.0
        silent_from = _count(out, "b.temp")
        a_before = _count(out, "a.temp")
        await eventually(lambda: _count(out, "a.temp") >= a_before + 10)  # unit 1 carries on
        assert _count(out, "b.temp") == silent_from  # no values, not even old ones
        peer.muted.clear()  # back after the outage: recovers by itself
        await eventually(lambda: _count(out, "b.temp") > silent_from, timeout=15)
        await eventually(lambda: driver.health().state == "connected")
        assert _gauge("plc", "2") == 1.0
        assert set(await out.values("b.temp")) == {20.0}


async def test_busy_unit_is_down_and_comes_back(peer: ModbusPeer, tmp_path: Path) -> None:
    await peer.set(1, "holding 5", [42])
    driver = fast_driver(
        _config(_url(peer), _sensor("x", "register: holding 5, poll: 100ms")), "plc"
    )
    peer.busy.add(1)
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: driver.counters.get("exception", 0) >= 2)
        assert "unit 1 down: exception 6 (device busy)" in driver.health().detail
        assert _count(out, "x") == 0
        peer.busy.clear()
        await eventually(lambda: _count(out, "x") >= 1)
        await eventually(lambda: driver.health().state == "connected")


async def test_garbled_frames_count_as_crc_errors(tmp_path: Path) -> None:
    peer = ModbusPeer(units=(1,))
    await peer.start_rtu()
    try:
        await peer.set(1, "holding 5", [42])
        sensors = _sensor("a.temp", "register: holding 5, poll: 100ms")
        driver = fast_driver(_config(_url(peer), sensors), "plc")
        peer.garbled.add(1)
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: driver.counters.get("crc_error", 0) >= 2)
            assert await out.readings() == []
            peer.garbled.clear()
            await eventually(lambda: _count(out, "a.temp") >= 1)
            assert set(await out.values("a.temp")) == {42.0}
    finally:
        await peer.close()


async def test_tcp_server_down_and_back_reconnects(tmp_path: Path) -> None:
    port = free_port()
    peer = ModbusPeer(units=(1,))
    await peer.start_tcp(port)
    try:
        await peer.set(1, "holding 5", [42])
        driver = fast_driver(
            _config(f"tcp://127.0.0.1:{port}", _sensor("x", "register: holding 5, poll: 100ms")),
            "plc",
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: _count(out, "x") >= 1)
            await peer.stop()
            await eventually(lambda: driver.health().state == "disconnected")
            stopped_at = _count(out, "x")
            await eventually(lambda: driver.counters.get("connect_failed", 0) >= 2)
            assert _count(out, "x") == stopped_at
            await peer.start_tcp(port)
            await peer.set(1, "holding 5", [43])
            await eventually(lambda: 43.0 in [e.data["value"] for e in out.log.read_now(0, 10_000)])
            await eventually(lambda: driver.health().state == "connected")
    finally:
        await peer.close()


async def test_rtu_adapter_unplugged_and_back_is_reopened(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB0"
    peer = ModbusPeer(units=(1,))
    await peer.start_rtu(link)
    try:
        await peer.set(1, "holding 5", [42])
        driver = fast_driver(
            _config(f"rtu://{link}", _sensor("x", "register: holding 5, poll: 100ms")), "plc"
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline) as task:
            await eventually(lambda: _count(out, "x") >= 1)
            await peer.unplug()
            await eventually(lambda: driver.counters.get("connect_failed", 0) >= 2)
            assert driver.health().state == "disconnected"
            assert not task.done()
            await peer.start_rtu(link)
            await peer.set(1, "holding 5", [43])
            await eventually(lambda: 43.0 in [e.data["value"] for e in out.log.read_now(0, 10_000)])
            assert driver.health().state == "connected"
    finally:
        await peer.close()


async def test_unmapped_gap_splits_the_request_and_keeps_good_sensors(
    peer: ModbusPeer, tmp_path: Path
) -> None:
    await peer.set(1, "holding 250", [7])
    # 250..258 would be one request, but 256.. does not exist on this device
    sensors = _sensor("good", "register: holding 250, poll: 100ms") + _sensor(
        "bad", "register: holding 258, poll: 100ms"
    )
    driver = fast_driver(_config(_url(peer), sensors), "plc")
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: _count(out, "good") >= 3)
        await eventually(lambda: driver.health().state == "degraded")
        assert "illegal data address" in driver.health().detail
        assert await out.readings("bad") == []
    assert driver.counters["exception"] >= 2


async def test_missing_serial_port_is_retried_without_crashing(tmp_path: Path) -> None:
    config = _config(f"rtu://{tmp_path}/ttyUSB9", _sensor("x", "register: holding 5"))
    driver = fast_driver(config, "plc")
    async with committed_log(tmp_path) as out, running(driver, out.pipeline) as task:
        await eventually(lambda: driver.counters.get("connect_failed", 0) >= 3)
        assert driver.health().state == "disconnected"
        assert not task.done()


async def test_rtu_answer_that_comes_late_is_not_stored_as_the_next_reading(
    tmp_path: Path,
) -> None:
    """RTU frames carry no transaction id: a slave that answers one poll only after the next
    request went out must not get that old answer (40, before the door opened) stored as
    the next reading (90, after)."""
    peer = ModbusPeer(units=(1,))
    await peer.start_rtu()
    try:
        await peer.set(1, "holding 5", [40])
        driver = fast_driver(
            _config(_url(peer), _sensor("f.temp", "register: holding 5, poll: 100ms")), "plc"
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: _count(out, "f.temp") >= 3)
            peer.late.add(1)  # the next answer (40) comes with the answer after it
            await eventually(lambda: peer.held != b"")
            await peer.set(1, "holding 5", [90])  # the door opens
            await eventually(lambda: 90.0 in [e.data["value"] for e in out.log.read_now(0, 10_000)])
            await eventually(lambda: driver.health().state == "connected")
            stored = await out.values("f.temp")
    finally:
        await peer.close()
    in_time = [int.from_bytes(frame[3:5], "big") for frame in peer.answered]
    assert stored.count(40.0) <= in_time.count(40)  # no answer stored twice
    assert stored == sorted(stored)  # and none after the door opened
    assert driver.counters["timeout"] >= 1


async def test_answer_of_another_function_is_a_failed_poll(
    peer: ModbusPeer, tmp_path: Path
) -> None:
    await peer.set(1, "holding 5", [42])
    driver = fast_driver(
        _config(_url(peer), _sensor("x", "register: holding 5, poll: 100ms")), "plc"
    )
    peer.wrong_function.add(1)  # a holding-register read answered as an input-register read
    async with committed_log(tmp_path) as out, running(driver, out.pipeline):
        await eventually(lambda: driver.counters.get("mismatch", 0) >= 2)
        assert "unit 1 down: answer of function 4, asked 3" in driver.health().detail
        assert await out.readings() == []
        peer.wrong_function.clear()
        await eventually(lambda: _count(out, "x") >= 1)


async def test_tcp_connection_pymodbus_closes_after_timeouts_counts_every_failed_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pymodbus closes a TCP socket after a few timeouts in a row; the poll that ran into the
    closing still yielded no reading and counts like the timeouts before it, so the recovery
    line bounds the answers the device may have built without the edge reading them."""
    caplog.set_level(logging.INFO, logger="tracseq.drivers.modbus")
    peer = ModbusPeer(units=(1,))
    await peer.start_tcp(free_port())
    try:
        await peer.set(1, "holding 5", [42])
        driver = fast_driver(
            _config(_url(peer), _sensor("x", "register: holding 5, poll: 100ms")), "plc"
        )
        async with committed_log(tmp_path) as out, running(driver, out.pipeline):
            await eventually(lambda: _count(out, "x") >= 1 and driver.health().state == "connected")
            before = _failed_polls()
            peer.muted.add(1)  # the socket stays open, the device says nothing
            await eventually(lambda: driver.counters.get("connect_ok", 0) >= 2, timeout=20)
            peer.muted.clear()
            await eventually(lambda: driver.health().state == "connected")
            failed = _failed_polls() - before
    finally:
        await peer.close()
    assert driver.counters["connection_error"] >= 1  # pymodbus closed the socket
    [recovered] = [r.getMessage() for r in caplog.records if "recovered after" in r.getMessage()]
    assert recovered == f"modbus plc: unit 1 recovered after {failed:g} failed attempts"
    assert failed == sum(driver.counters[r] for r in ("timeout", "connection_error"))


def _count(out: Committed, subject: str) -> int:
    return sum(1 for e in out.log.read_now(0, 1_000_000) if e.subject == subject)


def _gauge(connection: str, unit: str) -> float | None:
    return REGISTRY.get_sample_value(
        "tracseq_modbus_device_up", {"connection": connection, "unit": unit}
    )


def _failed_polls() -> float:
    """Polls of connection `plc` without a reading, from tracseq_modbus_requests_total."""
    results = ("timeout", "crc_error", "mismatch", "exception", "connection_error")
    samples = [
        REGISTRY.get_sample_value(
            "tracseq_modbus_requests_total", {"connection": "plc", "result": r}
        )
        for r in results
    ]
    return sum(v or 0.0 for v in samples)
