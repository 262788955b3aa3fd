"""The one parser for durations (`500ms`, `5m`, `7d`) and byte sizes (`512MiB`, `2GiB`)."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s?(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration such as `500ms`, `10s`, `5m`, `2h`, `7d` (a bare 0 is allowed)."""
    if isinstance(text, bool):
        raise ValueError(f"invalid duration {text!r} (use e.g. 5m)")
    if isinstance(text, int | float):
        if text == 0:
            return 0.0
        if not math.isfinite(text):
            raise ValueError(f"invalid duration {text!r} (use e.g. 5m)")
        raise ValueError(f"invalid duration {text!r}: give a unit (use e.g. {text}s)")
    if not isinstance(text, str):  # null, a list, a mapping: pydantic needs a ValueError
        raise ValueError(f"invalid duration {text!r} (use e.g. 5m)")
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"invalid duration {text!r} (use e.g. 5m)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(text: str | int) -> int:
    """Bytes in a size such as `512MiB` or `2GiB` (a bare integer is bytes)."""
    if isinstance(text, bool):
        raise ValueError(f"invalid size {text!r} (use e.g. 2GiB)")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"invalid size {text!r}: must not be negative")
        return text
    if not isinstance(text, str):
        raise ValueError(f"invalid size {text!r} (use e.g. 2GiB)")
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"invalid size {text!r} (use e.g. 2GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    """A short human form of a duration, the inverse of parse_duration for whole units."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"
