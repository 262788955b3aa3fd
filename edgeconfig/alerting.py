"""`outputs:` and `notify:`: alarms that reach a person without central.

- `outputs.<name>`: a local beacon or buzzer on a Modbus coil, on while any alarm matching
  `match` is active (`edge.outputs`).
- `notify`: the edge's own fallback e-mail for an alarm central has not confirmed (synced)
  within `after` of its raise (`edge.fallback_notify`).

References that span sections (the output's connection must be a Modbus connection) are
checked by `cross_check` on the raw document, so they carry `file:line:col` like every
other config error.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from edgeconfig.base import Duration, Kind, Model
from edgeconfig.sensors import Priority
from runtime.errors import ConfigIssue
from runtime.yaml_source import YamlDocument

RuleName = Literal["high", "low", "rate", "offline"]
_COIL = re.compile(r"^coil\s+(\d+)$")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AlarmMatch(Model):
    """Which alarms an output follows; every key given must match (absent keys match all)."""

    kind: list[Kind] | None = None
    rule: list[RuleName] | None = None
    sensor: list[str] | None = None  # globs of sensor ids
    site: list[str] | None = None  # globs of sites
    priority: list[Priority] | None = None

    @field_validator("kind", "rule", "sensor", "site", "priority", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    def matches(
        self, *, sensor: str, rule: str, kind: str | None, site: str | None, priority: str | None
    ) -> bool:
        """True when an alarm of `rule` on `sensor` (of `kind`, at `site`) is one of ours."""
        if self.rule is not None and rule not in self.rule:
            return False
        if self.priority is not None and priority not in self.priority:
            return False
        if self.kind is not None and kind not in self.kind:
            return False
        if self.sensor is not None and not any(fnmatch.fnmatchcase(sensor, g) for g in self.sensor):
            return False
        return self.site is None or (
            site is not None and any(fnmatch.fnmatchcase(site, g) for g in self.site)
        )


class Output(Model):
    """A Modbus coil that is on while a matching alarm is active."""

    connection: str
    register_: str = Field(alias="register")
    unit: int = Field(default=1, ge=0, le=247)
    match: AlarmMatch = AlarmMatch()
    reassert: Duration = 10.0  # the coil is written again this often (a device may restart)

    @field_validator("register_")
    @classmethod
    def _coil(cls, value: str) -> str:
        found = _COIL.match(value.strip())
        if found is None or int(found.group(1)) > 65535:
            raise ValueError(
                f"an output drives a coil: use e.g. 'coil 5', got {value!r} "
                "(holding, input and discrete registers cannot be switched)"
            )
        return value.strip()

    @field_validator("reassert")
    @classmethod
    def _reassert(cls, value: float) -> float:
        if value < 0.1:
            raise ValueError("reassert must be at least 100ms")
        return value

    @property
    def address(self) -> int:
        return int(self.register_.split()[1])


class Smtp(Model):
    """The mail server the edge's fallback message goes through."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    from_: str = Field(alias="from", min_length=3)
    username: str | None = None
    password_file: Path | None = None
    timeout: Duration = 30.0


class Notify(Model):
    """The edge's own e-mail for an alarm central has not confirmed within `after`."""

    after: Duration = 300.0
    smtp: Smtp
    to: list[str] = Field(min_length=1)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


def cross_check(data: dict[str, Any], doc: YamlDocument) -> list[ConfigIssue]:
    """Each output's connection exists and is Modbus (TCP, or RTU: a bus the sensors poll
    too is shared with their driver)."""
    out: list[ConfigIssue] = []
    outputs = data.get("outputs")
    if not isinstance(outputs, dict):
        return out
    connections = data.get("connections")
    connections = connections if isinstance(connections, dict) else {}
    for name, output in outputs.items():
        if not isinstance(output, dict) or not isinstance(output.get("connection"), str):
            continue
        where = ("outputs", name, "connection")
        connection = output["connection"]
        body = connections.get(connection)
        if body is None:
            known = ", ".join(sorted(connections)) or "none defined"
            out.append(doc.issue(where, f"unknown connection '{connection}' (known: {known})"))
            continue
        modbus = body.get("modbus") if isinstance(body, dict) else None
        if not isinstance(modbus, dict):
            out.append(
                doc.issue(where, f"connection '{connection}' is not Modbus: outputs drive coils")
            )
    return out
