"""What every config model shares: strict models, durations, sizes, names, secret files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

from runtime.durations import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Kind = Literal["freezer", "fridge", "incubator", "ln2", "room"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def read_secret(path: Path | None) -> str | None:
    """The stripped contents of a secret file, or None if unset or unreadable."""
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
