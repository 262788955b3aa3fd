"""`sensors[].source`: where on a connection a sensor's value is found."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from edgeconfig.base import PLACEHOLDER, Duration, Model
from runtime import units


def _known_unit(value: str | None) -> str | None:
    if value is not None and units.canonical(value) is None:
        raise ValueError(f"unknown wire_unit {value!r} (use {units.KNOWN})")
    return value


# The unit the device sends when it is not the sensor's `unit`; converted on the way in.
WireUnit = Annotated[str | None, AfterValidator(_known_unit)]

# --- sensors -------------------------------------------------------------------------


class Condition(Model):
    """`when:` on an MQTT source: a payload path that must hold (or be absent) for the message
    to be this sensor's. A message that fails it is skipped, not rejected."""

    path: str  # dotted path into the JSON payload
    equals: str | float | bool | None = None  # absent: the path only has to be present
    present: bool = True  # false: the path must be absent

    @model_validator(mode="after")
    def _sense(self) -> Condition:
        if not self.present and "equals" in self.model_fields_set:
            raise ValueError("a condition with present: false cannot also need equals")
        return self


def _conditions(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


# Home Assistant's words for "no value now": the sensor says it is unavailable; not a reject.
NO_VALUE_STATES = ("unavailable", "unknown")


class MqttSource(Model):
    connection: str
    topic: str
    value: str | None = None  # dotted path into a JSON payload; None: the payload is the value
    time: str | None = None  # dotted path of the sensor's timestamp
    wire_unit: WireUnit = None
    wire_unit_path: str | None = None  # dotted path of a unit in the payload (TempUnit)
    when: Annotated[list[Condition], BeforeValidator(_conditions)] = []  # all must hold
    no_value_states: list[str] = list(NO_VALUE_STATES)  # compared without case

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not value or "\x00" in value:
            raise ValueError("invalid topic")
        for level in value.split("/"):
            if ("+" in level and level != "+") or ("#" in level and level != "#"):
                raise ValueError(f"invalid topic {value!r}: + and # must fill a whole level")
        if "#" in value and not value.endswith("#"):
            raise ValueError(f"invalid topic {value!r}: # must be the last level")
        return value

    @property
    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.topic)

    @property
    def subscription(self) -> str:
        """The topic filter: each `{name}` level becomes `+`."""
        return PLACEHOLDER.sub("+", self.topic)


_REGISTER = re.compile(r"^(coil|discrete|input|holding)\s+(\d+)$")
RegisterType = Literal["bool", "int16", "uint16", "int32", "uint32", "float32", "float64"]


class ModbusSource(Model):
    connection: str
    unit: int = Field(default=1, ge=0, le=247)
    register_: str = Field(alias="register")
    type: RegisterType = "uint16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    poll: Duration = 10.0
    wire_unit: WireUnit = None  # (`unit` is the Modbus unit id)

    @field_validator("register_")
    @classmethod
    def _register(cls, value: str) -> str:
        match = _REGISTER.match(value.strip())
        if match is None or int(match.group(2)) > 65535:
            raise ValueError(
                f"invalid register {value!r} (use e.g. 'input 1', 'holding 100', 'coil 0')"
            )
        return value.strip()

    @field_validator("poll")
    @classmethod
    def _poll(cls, value: float) -> float:
        if value < 0.1:
            raise ValueError("poll must be at least 100ms")
        return value

    @property
    def table(self) -> Literal["coil", "discrete", "input", "holding"]:
        table = self.register_.split()[0]
        assert table in ("coil", "discrete", "input", "holding")
        return table  # type: ignore[return-value]

    @property
    def address(self) -> int:
        return int(self.register_.split()[1])

    @property
    def count(self) -> int:
        """Registers (or bits) this value occupies."""
        return {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2}.get(
            self.type, 2 if self.type == "float32" else 4
        )

    @model_validator(mode="after")
    def _bits(self) -> ModbusSource:
        bit_table = self.table in ("coil", "discrete")
        if bit_table and self.type not in ("bool", "uint16"):
            raise ValueError(f"{self.table} registers hold bits: type must be bool")
        if not bit_table and self.type == "bool":
            raise ValueError("type bool is for coil and discrete registers")
        return self


class SerialSource(Model):
    connection: str
    match: str
    sensor: str | None = None  # the value of a `sensor` group this sensor answers to
    wire_unit: WireUnit = None  # a `unit` group in `match`, when it matches, wins

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if "value" not in pattern.groupindex:
            raise ValueError("the pattern needs a named group (?P<value>...)")
        return value


def _source_kind(value: Any) -> Any:
    if isinstance(value, dict):
        if "topic" in value:
            return MqttSource.model_validate(value)
        if "register" in value:
            return ModbusSource.model_validate(value)
        if "match" in value:
            return SerialSource.model_validate(value)
        raise ValueError("a source needs topic (MQTT), register (Modbus) or match (serial)")
    return value


Source = Annotated[MqttSource | ModbusSource | SerialSource, BeforeValidator(_source_kind)]
