"""Register decoding round trips for every type and order, and request planning."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.registers import MAX_BITS, MAX_REGISTERS, decode, encode, plan, split
from edgeconfig import RegisterType, Sensor, parse_config

ORDERS = st.sampled_from(["big", "little"])
_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


@pytest.mark.parametrize("type_", list(_RANGES))
@given(data=st.data(), byte_order=ORDERS, word_order=ORDERS)
def test_integers_round_trip(
    type_: RegisterType, data: st.DataObject, byte_order: str, word_order: str
) -> None:
    low, high = _RANGES[type_]
    value = data.draw(st.integers(low, high))
    words = encode(value, type_, byte_order, word_order)  # type: ignore[arg-type]
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode(words, type_, byte_order, word_order) == value  # type: ignore[arg-type]


@given(value=st.floats(width=32), byte_order=ORDERS, word_order=ORDERS)
def test_float32_round_trips(value: float, byte_order: str, word_order: str) -> None:
    words = encode(value, "float32", byte_order, word_order)  # type: ignore[arg-type]
    back = decode(words, "float32", byte_order, word_order)  # type: ignore[arg-type]
    assert back == value or (math.isnan(back) and math.isnan(value))


@given(value=st.floats(), byte_order=ORDERS, word_order=ORDERS)
def test_float64_round_trips(value: float, byte_order: str, word_order: str) -> None:
    words = encode(value, "float64", byte_order, word_order)  # type: ignore[arg-type]
    back = decode(words, "float64", byte_order, word_order)  # type: ignore[arg-type]
    assert back == value or (math.isnan(back) and math.isnan(value))


@given(words=st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_any_register_contents_decode_without_error(words: list[int]) -> None:
    for type_ in ("int16", "uint16", "int32", "uint32", "float32", "float64"):
        width = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}.get(type_, 4)
        for byte_order in ("big", "little"):
            for word_order in ("big", "little"):
                decode(words[:width], type_, byte_order, word_order)  # type: ignore[arg-type]


def test_known_wire_values() -> None:
    assert decode([0xFCE0], "int16") * 0.1 == pytest.approx(-80.0)
    assert decode([0xFCE0], "uint16") == 64736
    # -80.5 as float32 is 0xC2A10000: big word order sends 0xC2A1 first
    assert decode([0xC2A1, 0x0000], "float32", word_order="big") == -80.5
    assert decode([0x0000, 0xC2A1], "float32", word_order="little") == -80.5
    assert decode([0xA1C2, 0x0000], "float32", byte_order="little") == -80.5
    assert decode([0xFFFE, 0x1DC0], "int32") == -123456
    assert encode(37.25, "float64") == [
        int.from_bytes(struct.pack(">d", 37.25)[i : i + 2], "big") for i in range(0, 8, 2)
    ]
    assert decode([1], "bool") == 1.0 and decode([0], "bool") == 0.0


def _sensors(*sources: str) -> list[Sensor]:
    lines = "".join(
        f"  - {{id: s{i}, kind: room, quantity: x, unit: u, source: {{connection: c, {src}}}}}\n"
        for i, src in enumerate(sources)
    )
    text = f"gateway: {{id: g}}\nconnections:\n  c: {{modbus: {{url: 'tcp://h:502'}}}}\nsensors:\n{lines}"
    return parse_config(text, "sensors.yaml", base_dir=Path(".")).sensors


def test_contiguous_and_nearby_registers_share_one_request() -> None:
    sensors = _sensors(
        "register: input 1, type: int16",
        "register: input 2",
        "register: input 10, type: float32",  # gap of 7: still one request
        "register: input 40",  # too far: a second request
        "register: holding 1",  # another table
        "unit: 2, register: input 1",  # another unit
        "register: input 3, poll: 1s",  # another poll interval
    )
    blocks = plan(sensors)
    described = sorted(b.describe() for b in blocks)
    assert described == [
        "unit 1 holding 1+1",
        "unit 1 input 1+11",
        "unit 1 input 3+1",
        "unit 1 input 40+1",
        "unit 2 input 1+1",
    ]
    block = next(b for b in blocks if b.describe() == "unit 1 input 1+11")
    assert [s.id for s in block.sensors] == ["s0", "s1", "s2"]
    assert block.slice_for(block.sensors[2].source, list(range(1, 12))) == [10, 11]  # type: ignore[arg-type]
    assert [b.describe() for b in split(block)] == [
        "unit 1 input 1+1",
        "unit 1 input 2+1",
        "unit 1 input 10+2",
    ]


def test_requests_stay_within_protocol_limits() -> None:
    registers = _sensors(*[f"register: holding {a}, type: float64" for a in range(0, 1000, 4)])
    bits = _sensors(*[f"register: coil {a}, type: bool" for a in range(0, 4100, 8)])
    reg_blocks, bit_blocks = plan(registers), plan(bits)
    assert all(b.count <= MAX_REGISTERS for b in reg_blocks)
    assert all(b.count <= MAX_BITS for b in bit_blocks)
    assert len(reg_blocks) == math.ceil(1000 / 124)  # 31 float64 per request of 124 registers
    assert len(bit_blocks) == 3
    assert sum(len(b.sensors) for b in reg_blocks) == 250
