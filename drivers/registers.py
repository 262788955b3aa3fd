"""Modbus register decoding and request planning, free of any I/O.

`decode` turns the 16-bit words (or bits) a device returned into a number according to the
sensor's type, byte order and word order; `encode` is its inverse (tests and the simulator).
`plan` groups the sensors of one unit, table and poll interval into the fewest read
requests: registers that are contiguous or a few addresses apart share one request, within
the protocol's limits of 125 registers or 2000 bits per request.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from edgeconfig import ModbusSource, RegisterType, Sensor

Order = Literal["big", "little"]
Table = Literal["coil", "discrete", "input", "holding"]

MAX_REGISTERS = 125  # per read of input/holding registers (function 03/04)
MAX_BITS = 2000  # per read of coils/discrete inputs (function 01/02)
MAX_GAP = 8  # unused registers we read rather than send a second request

_FORMATS: dict[str, str] = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "float64": "d",
}
_WORDS: dict[str, int] = {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2}
_WORDS.update(float32=2, float64=4)


def width(type_: RegisterType) -> int:
    """Registers a value of `type_` occupies (bits: one)."""
    return _WORDS[type_]


def decode(
    words: Sequence[int], type_: RegisterType, byte_order: Order = "big", word_order: Order = "big"
) -> float:
    """The number held in `words` (16-bit register values, in address order).

    `word_order` big: the first register holds the most significant word; `byte_order` big:
    each register's high byte is sent first (the Modbus norm). Bits decode to 0.0 or 1.0.
    """
    if type_ == "bool":
        return 1.0 if words[0] else 0.0
    count = _WORDS[type_]
    if len(words) != count:
        raise ValueError(f"{type_} needs {count} registers, got {len(words)}")
    ordered = list(words) if word_order == "big" else list(reversed(words))
    raw = b"".join(int(w & 0xFFFF).to_bytes(2, byte_order) for w in ordered)
    value: float = struct.unpack(">" + _FORMATS[type_], raw)[0]
    return value


def encode(
    value: float, type_: RegisterType, byte_order: Order = "big", word_order: Order = "big"
) -> list[int]:
    """The registers a device would send for `value` (the inverse of `decode`)."""
    if type_ == "bool":
        return [1 if value else 0]
    fmt = _FORMATS[type_]
    number: float = value if fmt in ("f", "d") else int(value)
    raw = struct.pack(">" + fmt, number)
    words = [int.from_bytes(raw[i : i + 2], byte_order) for i in range(0, len(raw), 2)]
    return words if word_order == "big" else list(reversed(words))


@dataclass(slots=True)
class Block:
    """One read request: `count` registers (or bits) of `table` on `unit` from `address`."""

    unit: int
    table: Table
    address: int
    count: int
    poll: float
    sensors: list[Sensor] = field(default_factory=list)

    @property
    def bits(self) -> bool:
        return self.table in ("coil", "discrete")

    @property
    def end(self) -> int:
        return self.address + self.count

    def slice_for(self, source: ModbusSource, values: Sequence[int]) -> list[int]:
        """The part of a response to this block that holds `source`'s value."""
        start = source.address - self.address
        return list(values[start : start + width(source.type)])

    def describe(self) -> str:
        return f"unit {self.unit} {self.table} {self.address}+{self.count}"


def source_of(sensor: Sensor) -> ModbusSource:
    source = sensor.source
    if not isinstance(source, ModbusSource):
        raise TypeError(f"sensor {sensor.id} is not on a Modbus connection")
    return source


def plan(sensors: Iterable[Sensor], max_gap: int = MAX_GAP) -> list[Block]:
    """The fewest read requests that cover every sensor.

    Sensors are grouped by (unit, table, poll) and, within a group, sorted by address;
    a sensor joins the current block when it starts at most `max_gap` addresses after the
    block's end and the block stays within the protocol limit. Overlapping sensors (two
    views of the same register) share a block.
    """
    groups: dict[tuple[int, str, float], list[Sensor]] = {}
    for sensor in sensors:
        source = source_of(sensor)
        groups.setdefault((source.unit, source.table, source.poll), []).append(sensor)
    blocks: list[Block] = []
    for (unit, table, poll), members in sorted(groups.items()):
        limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS
        current: Block | None = None
        for sensor in sorted(members, key=lambda s: source_of(s).address):
            source = source_of(sensor)
            size = width(source.type)
            end = source.address + size
            if (
                current is not None
                and source.address <= current.end + max_gap
                and max(end, current.end) - current.address <= limit
            ):
                current.count = max(end, current.end) - current.address
                current.sensors.append(sensor)
                continue
            current = Block(unit, table, source.address, size, poll, [sensor])  # type: ignore[arg-type]
            blocks.append(current)
    return blocks


def split(block: Block) -> list[Block]:
    """One block per sensor: for a device that refuses reads spanning unmapped addresses."""
    return [
        Block(
            block.unit,
            block.table,
            source_of(s).address,
            width(source_of(s).type),
            block.poll,
            [s],
        )
        for s in block.sensors
    ]
