"""Temperature units as configs and devices spell them, and the conversion between them.

One table for the config checks (`source.wire_unit`), the drivers (a unit stated in the
payload, Tasmota's `TempUnit: "F"`) and the normaliser that converts every reading to its
sensor's `unit`. Other quantities are stored in the unit they arrive in.
"""

from __future__ import annotations

_CANONICAL: dict[str, str] = {
    "degc": "degC",
    "c": "degC",
    "°c": "degC",
    "celsius": "degC",
    "degf": "degF",
    "f": "degF",
    "°f": "degF",
    "fahrenheit": "degF",
    "k": "K",
    "kelvin": "K",
}
KNOWN = "degC, degF, K"  # for messages


def canonical(unit: str) -> str | None:
    """`degC`, `degF` or `K` for any spelling in the table (case-insensitive), else None."""
    return _CANONICAL.get(unit.strip().lower())


def convert(value: float, from_unit: str, to_unit: str) -> float | None:
    """`value` in `to_unit`, or None when no conversion is known."""
    if from_unit == to_unit:
        return value
    source, target = canonical(from_unit), canonical(to_unit)
    if source is None or target is None:
        return None
    if source == "degF":
        value = (value - 32.0) * 5.0 / 9.0
    elif source == "K":
        value = value - 273.15
    if target == "degF":
        return value * 9.0 / 5.0 + 32.0
    if target == "K":
        return value + 273.15
    return value
