"""The notifications file (contract: "Notifications (central)"), parsed once into typed models.

`load_notifications(path)` reads the YAML with positions kept (runtime/yaml_source.py) and
reports every problem as `file:line:col: path: message` in a `ConfigError`: unknown keys,
bad durations, a channel, group or schedule that is named but not defined, an unknown time
zone, a secret file that cannot be read. Secrets are read from their `*_file` at load, so a
reload (SIGHUP) picks up a rotated password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from runtime.durations import parse_duration
from runtime.errors import ConfigError, ConfigIssue
from runtime.yaml_source import Path as YamlPath
from runtime.yaml_source import YamlDocument, load_yaml

Duration = Annotated[float, BeforeValidator(parse_duration)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Rule = Literal[
    "high", "low", "rate", "offline", "gateway_offline", "audit_tampered", "calibration_due"
]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
AT = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun) )?([01]\d|2[0-3]):([0-5]\d)$")
DAY_S = 86_400.0


def _listify(value: Any) -> Any:
    """A single name where a list is expected is a list of one."""
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_listify)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Smtp(Model):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    timeout: Duration = 30.0
    ca_file: Path | None = None  # a private CA for starttls/tls (default: the system's)
    password: str | None = Field(None, exclude=True)  # read from password_file at load

    @model_validator(mode="after")
    def _auth(self) -> Smtp:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together (SMTP auth needs both)")
        return self


class Webhook(Model):
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "slack", "teams"] = "json"
    secret_file: Path | None = None
    timeout: Duration = 10.0
    secret: str | None = Field(None, exclude=True)  # read from secret_file at load


class Alertmanager(Model):
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 10.0


class Channel(Model):
    smtp: Smtp | None = None
    webhook: Webhook | None = None
    alertmanager: Alertmanager | None = None

    @model_validator(mode="after")
    def _one(self) -> Channel:
        given = [k for k in ("smtp", "webhook", "alertmanager") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a channel is exactly one of smtp, webhook, alertmanager")
        return self

    @property
    def kind(self) -> str:
        return "smtp" if self.smtp else "webhook" if self.webhook else "alertmanager"


class Window(Model):
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: str = Field(alias="from", pattern=_CLOCK.pattern)
    end: str = Field(alias="to", pattern=_CLOCK.pattern)


class Schedule(Model):
    timezone: str
    windows: list[Window] = Field(min_length=1)

    @model_validator(mode="after")
    def _zone(self) -> Schedule:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.timezone!r} (e.g. Europe/Stockholm)"
            ) from None
        return self


class Defaults(Model):
    group_wait: Duration = Field(30.0, ge=0)
    base_url: str = "http://127.0.0.1:8095"


class Match(Model):
    kind: Names | None = None
    site: Names | None = None  # globs
    gateway: Names | None = None
    sensor: Names | None = None  # globs
    rule: Annotated[list[Rule], BeforeValidator(_listify)] | None = None
    event: Literal["alarm", "prediction"] = "alarm"


class Target(Model):
    channel: str
    to: Names = Field(default_factory=list)
    schedule: str | None = None


class Level(Model):
    after: Duration = Field(0.0, ge=0)
    notify: list[Target] = Field(min_length=1)
    repeat: Duration | None = Field(None, gt=0)


class Policy(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")
    match: Match = Field(default_factory=Match)
    levels: list[Level] = Field(min_length=1)
    also_on: list[Literal["acknowledged", "cleared"]] = Field(default_factory=list)


class Report(Model):
    """A scheduled excursion report (central/notify/reports.py): one PDF per matching site,
    e-mailed as an attachment every `every` at `at` (local time of `timezone`)."""

    site: str = Field(min_length=1)  # a glob over the sensors' sites
    every: Duration = 7 * DAY_S
    at: str = "mon 07:00"
    timezone: str = "UTC"
    period: Duration | None = None  # the report covers this much before each send (every)
    to: Names = Field(min_length=1)
    channel: str

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if not AT.fullmatch(value):
            raise ValueError(
                f"a day and a time like 'mon 07:00', or a time like '07:00', got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _when(self) -> Report:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.timezone!r} (e.g. Europe/Stockholm)"
            ) from None
        if self.every < DAY_S or self.every % DAY_S:
            raise ValueError("every: whole days (1d, 7d, 14d, ...)")
        if " " in self.at and self.every % (7 * DAY_S):
            raise ValueError("every: whole weeks (7d, 14d, ...) when `at` names a day")
        if self.period is not None and self.period <= 0:
            raise ValueError("period: more than 0")
        return self

    @property
    def covers(self) -> float:
        return self.period if self.period is not None else self.every


class NotifyConfig(Model):
    channels: dict[str, Channel] = Field(default_factory=dict)
    groups: dict[str, Names] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=lambda: Defaults.model_validate({}))
    policies: list[Policy] = Field(default_factory=list)
    reports: list[Report] = Field(default_factory=list)
    source_file: str = Field(default="", exclude=True)

    def policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def load_notifications(path: str | Path) -> NotifyConfig:
    """Read and validate the notifications file; raises ConfigError listing every problem."""
    display = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text: {exc}"
        raise ConfigError(
            [ConfigIssue(display, None, None, "", f"cannot read: {reason}")]
        ) from None
    return parse_notifications(text, display, base_dir=Path(path).resolve().parent)


def parse_notifications(text: str, file: str, *, base_dir: Path) -> NotifyConfig:
    doc = load_yaml(text, file)
    issues = list(doc.issues)
    if doc.data is None and issues:
        raise ConfigError(issues)
    if not isinstance(doc.data, dict):
        raise ConfigError([*issues, doc.issue((), "the top level must be a mapping")])
    config: NotifyConfig | None = None
    try:
        config = NotifyConfig.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, doc))
    if config is not None:
        issues.extend(_cross_check(config, doc))
        config, secret_issues = _read_secrets(config, doc, base_dir)
        issues.extend(secret_issues)
    if issues:
        raise ConfigError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    assert config is not None
    return config.model_copy(update={"source_file": file})


def _pydantic_issues(exc: ValidationError, doc: YamlDocument) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    for error in exc.errors():
        loc = _yaml_path(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            out.append(doc.issue(loc, f"unknown key '{loc[-1]}'", key=True))
        elif kind == "missing":
            out.append(doc.issue(loc[:-1], f"required key '{loc[-1]}' missing"))
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            if kind in ("literal_error", "enum"):
                message = f"{message}, got {error.get('input')!r}"
            out.append(doc.issue(loc, message))
    return out


def _yaml_path(loc: tuple[int | str, ...]) -> YamlPath:
    # pydantic names the aliased fields by their alias already; drop validator wrappers.
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p and p.endswith("]")))


def _cross_check(config: NotifyConfig, doc: YamlDocument) -> list[ConfigIssue]:
    """Names used but not defined, duplicate policy names, levels out of order."""
    out: list[ConfigIssue] = []
    for name, members in config.groups.items():
        for index, member in enumerate(members):
            if member.startswith("group:"):
                out.append(doc.issue(("groups", name, index), "groups cannot contain groups"))
    seen: set[str] = set()
    for p_index, policy in enumerate(config.policies):
        where: YamlPath = ("policies", p_index)
        if policy.name in seen:
            out.append(doc.issue((*where, "name"), f"duplicate policy name {policy.name!r}"))
        seen.add(policy.name)
        afters = [level.after for level in policy.levels]
        if afters != sorted(afters):
            out.append(doc.issue((*where, "levels"), "levels must be in order of `after`"))
        for l_index, level in enumerate(policy.levels):
            for t_index, target in enumerate(level.notify):
                at: YamlPath = (*where, "levels", l_index, "notify", t_index)
                if target.channel not in config.channels:
                    known = ", ".join(sorted(config.channels)) or "none defined"
                    out.append(
                        doc.issue(
                            (*at, "channel"),
                            f"unknown channel {target.channel!r} (channels: {known})",
                        )
                    )
                if target.schedule is not None and target.schedule not in config.schedules:
                    out.append(
                        doc.issue((*at, "schedule"), f"unknown schedule {target.schedule!r}")
                    )
                for r_index, recipient in enumerate(target.to):
                    group = recipient.removeprefix("group:")
                    if recipient.startswith("group:") and group not in config.groups:
                        out.append(doc.issue((*at, "to", r_index), f"unknown group {group!r}"))
    for r_index, report in enumerate(config.reports):
        at = ("reports", r_index)
        channel = config.channels.get(report.channel)
        if channel is None:
            known = ", ".join(sorted(config.channels)) or "none defined"
            out.append(
                doc.issue(
                    (*at, "channel"), f"unknown channel {report.channel!r} (channels: {known})"
                )
            )
        elif channel.smtp is None:
            out.append(
                doc.issue(
                    (*at, "channel"),
                    f"channel {report.channel!r} is {channel.kind}: a report is a PDF "
                    "attachment, use an smtp channel",
                )
            )
        for to_index, recipient in enumerate(report.to):
            group = recipient.removeprefix("group:")
            if recipient.startswith("group:") and group not in config.groups:
                out.append(doc.issue((*at, "to", to_index), f"unknown group {group!r}"))
    return out


def _read_secrets(
    config: NotifyConfig, doc: YamlDocument, base_dir: Path
) -> tuple[NotifyConfig, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    channels: dict[str, Channel] = {}
    for name, channel in config.channels.items():
        if channel.smtp is not None and channel.smtp.password_file is not None:
            where: YamlPath = ("channels", name, "smtp", "password_file")
            secret = _secret(base_dir / channel.smtp.password_file, where, doc, issues)
            channel = channel.model_copy(
                update={"smtp": channel.smtp.model_copy(update={"password": secret})}
            )
        if channel.smtp is not None and channel.smtp.ca_file is not None:
            ca_file = base_dir / channel.smtp.ca_file
            if not ca_file.is_file():
                where = ("channels", name, "smtp", "ca_file")
                issues.append(doc.issue(where, f"cannot read {ca_file}: no such file"))
            channel = channel.model_copy(
                update={"smtp": channel.smtp.model_copy(update={"ca_file": ca_file})}
            )
        if channel.webhook is not None and channel.webhook.secret_file is not None:
            where = ("channels", name, "webhook", "secret_file")
            secret = _secret(base_dir / channel.webhook.secret_file, where, doc, issues)
            channel = channel.model_copy(
                update={"webhook": channel.webhook.model_copy(update={"secret": secret})}
            )
        channels[name] = channel
    return config.model_copy(update={"channels": channels}), issues


def _secret(path: Path, where: YamlPath, doc: YamlDocument, issues: list[ConfigIssue]) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        issues.append(doc.issue(where, f"cannot read {path}: {reason}"))
        return ""
    if not text:
        issues.append(doc.issue(where, f"{path} is empty"))
    return text
