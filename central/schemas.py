"""The API's bodies as pydantic models: requests are validated with them (central/body.py),
and the OpenAPI document (central/openapi.py) is generated from the same classes.

Over 400 lines on purpose: one model per body the API reads or sends, all in one place so
the validation and the OpenAPI document cannot drift apart.

Request models are strict (JSON types exactly) and ignore unknown keys. Response models
describe what the handlers send; a default only makes a key optional in the document
(defaults are not shown there). Times in responses are RFC 3339 strings.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from central import passwords
from central.notify import contacts
from runtime.events import parse_time

# What does not count as text in an acknowledgement's `by`/`comment`: white space as Python
# (str.isspace) and JSON Schema's ECMA-262 regexes see it, so the documented pattern built
# from it and the check agree on every string.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# \uXXXX escapes: readable, and the same in ECMA-262, Python and Rust regexes
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK) + "]"
GATEWAY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
Role = Literal["viewer", "operator", "admin"]


def _text(value: str) -> str:
    if not value.strip(BLANK):
        raise ValueError("required, a non-empty string")
    return value


def _name(value: str) -> str:
    passwords.check_name(value)
    return value


def _password(value: str) -> str:
    passwords.check_password(value)
    return value


def _gateway(value: str) -> str:
    if not GATEWAY.fullmatch(value):
        raise ValueError("letters, digits, '.', '_', '-'; at most 128")
    return value


def _text_rule(most: int, description: str) -> Any:
    """At most `most` characters, at least one of them not white space."""
    extra: dict[str, Any] = {"minLength": 1, "pattern": NOT_BLANK}
    return Field(max_length=most, description=description, json_schema_extra=extra)


By = Annotated[
    str, _text_rule(200, "who acknowledges (a session's own name)"), AfterValidator(_text)
]
Comment = Annotated[str, _text_rule(4000, "why; what was done"), AfterValidator(_text)]
UserName = Annotated[
    str, Field(json_schema_extra={"pattern": passwords.NAME.pattern}), AfterValidator(_name)
]
Password = Annotated[
    str,
    Field(json_schema_extra={"minLength": passwords.MIN_LENGTH, "maxLength": passwords.MAX_LENGTH}),
    AfterValidator(_password),
]


def _contact(check: Any) -> Any:
    def validate(value: str | None) -> str | None:
        return None if value in (None, "") else check(value)

    return AfterValidator(validate)


# A person's contact details for notifications (central/notify/contacts.py); "" or null
# clears one. The same patterns in the document as in the check.
Email = Annotated[
    str | None,
    Field(max_length=254, json_schema_extra={"pattern": f"^$|{contacts.EMAIL_PATTERN}"}),
    _contact(contacts.check_email),
]
Phone = Annotated[
    str | None,
    Field(max_length=254, json_schema_extra={"pattern": f"^$|{contacts.PHONE_PATTERN}"}),
    _contact(contacts.check_phone),
]
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
MaybeTime = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# --- requests ----------------------------------------------------------------------------


class LoginRequest(Request):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(max_length=passwords.MAX_LENGTH)]


class AckRequest(Request):
    by: By
    comment: Comment


MAX_ACK_ALARMS = 100  # alarm ids in one sensor acknowledgement
AlarmIds = Annotated[
    list[Annotated[str, Field(min_length=1)]],
    Field(min_length=1, max_length=MAX_ACK_ALARMS, description="which of the sensor's alarms"),
]


class SensorAckRequest(AckRequest):
    """One acknowledgement for a sensor's alarms: `alarm_ids`, or by default its active
    alarms nobody acknowledged yet."""

    alarm_ids: AlarmIds | None = None


class UserCreate(Request):
    name: UserName
    role: Role
    password: Password
    email: Email = None
    phone: Phone = None

    @model_validator(mode="after")
    def _password_not_the_name(self) -> UserCreate:
        # `Password` refused common, sequential and repeated ones; here also the user's own
        # name with a few characters added (PATCH checks it against the path's name).
        passwords.check_password(self.password, self.name)
        return self


class UserUpdate(Request):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # Only the keys sent count (`changes()`), so these defaults are never used; a key sent
    # as null is refused like any other wrong type.
    role: Role = "viewer"
    password: Password = ""
    disabled: bool = False
    email: Email = None  # null or "" clears it
    phone: Phone = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k)
            for k in ("role", "password", "disabled")
            if k in self.model_fields_set
        }
        contact = {k: getattr(self, k) for k in ("email", "phone") if k in self.model_fields_set}
        if contact:
            out["contact"] = contact
        return out


class NotificationTest(Request):
    channel: str = Field(description="a channel name of the notifications file")
    to: list[str] = Field(default_factory=list, description="addresses (e-mail channels)")


class TokenCreate(Request):
    gateway: Annotated[
        str, Field(json_schema_extra={"pattern": GATEWAY.pattern}), AfterValidator(_gateway)
    ]
    analytics: bool = False


# --- signed requests: electronic signatures (central/signatures.py, docs/qa.md) --------

Meaning = Literal[
    "acknowledged", "reviewed", "approved", "corrective action taken", "performed", "verified"
]
MEANINGS: tuple[str, ...] = Meaning.__args__  # type: ignore[attr-defined]
MAX_PDF_BYTES = 5 * 1024 * 1024  # a calibration certificate


def _stripped(value: str) -> str:
    return _text(value).strip(BLANK)


class SignatureInput(Request):
    """What a person sends to sign: the password (and the user name on the session's first
    signing), the meaning and the reason."""

    username: str | None = Field(
        None, max_length=200, description="needed on the first signing of a session"
    )
    password: Annotated[str, Field(max_length=passwords.MAX_LENGTH)]
    meaning: Meaning
    reason: Annotated[str, _text_rule(2000, "why this is signed"), AfterValidator(_stripped)]


class SignedAck(Request):
    signature: SignatureInput
    comment: str | None = Field(None, max_length=4000, description="default: the reason")


class SignedSensorAck(SignedAck):
    """Sign the acknowledgement of a sensor's alarms: every one (one signature each, in
    one transaction) or none. `alarm_ids` default: its active alarms not yet acknowledged."""

    alarm_ids: AlarmIds | None = None


class SignedRoleChange(Request):
    role: Role
    signature: SignatureInput


class ReportApproval(Request):
    """Approve a report: signs the content SHA-256 the signer saw."""

    kind: Literal["sensor", "site"]
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    from_: Time = Field(alias="from", description="RFC 3339, the report's period")
    to: Time
    content_sha256: Annotated[str, Field(max_length=64)]
    signature: SignatureInput


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Finite = Annotated[float, AfterValidator(_finite)]


class CalibrationPoint(Request):
    nominal: Finite
    as_found: Finite
    as_left: Finite


class CalibrationRecord(Request):
    """A calibration record as sent, with its signature (central/calibration.py)."""

    certificate: Annotated[str, Field(min_length=1, max_length=200)]
    reference: Annotated[str, Field(min_length=1, max_length=500)]
    performed_at: Time
    due_at: Time = Field(description="after performed_at")
    performed_by: Annotated[str, Field(min_length=1, max_length=200)]
    points: Annotated[list[CalibrationPoint], Field(min_length=1, max_length=100)]
    notes: str | None = Field(None, max_length=4000)
    certificate_pdf: str | None = Field(
        None,
        description=f"base64 of a PDF of at most {MAX_PDF_BYTES} bytes",
        json_schema_extra={"contentEncoding": "base64"},
    )
    certificate_name: str | None = Field(None, max_length=200)
    signature: SignatureInput

    def times(self) -> tuple[float, float]:
        """(performed, due) in epoch seconds; ValueError names the field that is wrong."""
        try:
            performed = parse_time(self.performed_at)
        except ValueError:
            raise ValueError("performed_at: an RFC 3339 time (2025-01-10T00:00:00Z)") from None
        try:
            due = parse_time(self.due_at)
        except ValueError:
            raise ValueError("due_at: an RFC 3339 time (2026-01-10T00:00:00Z)") from None
        if due <= performed:
            raise ValueError("due_at: must be after performed_at")
        return performed, due

    def pdf(self) -> bytes | None:
        """The attached certificate, checked: a PDF of at most MAX_PDF_BYTES."""
        if self.certificate_pdf is None:
            return None
        if len(self.certificate_pdf) > MAX_PDF_BYTES * 4 // 3 + 8:
            raise ValueError(f"certificate_pdf: at most {MAX_PDF_BYTES // 1024 // 1024} MiB")
        try:
            data = base64.b64decode(self.certificate_pdf, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("certificate_pdf: not base64") from None
        if len(data) > MAX_PDF_BYTES:
            raise ValueError(f"certificate_pdf: at most {MAX_PDF_BYTES // 1024 // 1024} MiB")
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
            raise ValueError("certificate_pdf: not a PDF document (must start with %PDF-)")
        return data


# --- responses ---------------------------------------------------------------------------


class ErrorItem(Response):
    index: int = 0
    field: str = ""
    message: str = ""


class Error(Response):
    error: str
    errors: list[ErrorItem] = []


class CloudEvent(Response):
    """One event of an ingest batch (the contract's envelope; central/ingest.py checks it)."""

    specversion: Literal["1.0"]
    id: str = Field(description="<gateway>:<seq>, the de-dup key")
    source: str = Field(description="tracseq-edge/<gateway>")
    type: str
    subject: str = ""
    time: Time = ""
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any] = {}


class IngestResult(Response):
    accepted: int
    duplicates: int


class Gateway(Response):
    id: str = ""
    first_seen: Time = ""
    last_seen: Time = ""
    last_seq: int | None = None
    last_received: MaybeTime = None
    lag_s: float | None = None
    pending: int | None = None
    version: str | None = None
    config_hash: str | None = None
    started_at: MaybeTime = None
    stopped_at: MaybeTime = None
    online: bool = False


class Signature(Response):
    """An electronic signature as shown (central/signatures.py)."""

    id: int = 0
    record_type: str = ""
    record_id: str = ""
    signer: str = Field("", description="the signer's printed name (user name)")
    role: str = ""
    meaning: str = ""
    reason: str = ""
    signed_at: Time = ""
    zone: str = Field("", description="the site's time zone")
    local_time: str = Field("", description="signed_at in the site's zone")
    content_sha256: str = ""
    audit_id: int = 0


class Ack(Response):
    id: int = 0
    alarm_id: str = ""
    by: str = ""
    comment: str = ""
    at: Time = ""
    actor: str = ""
    signature: Signature | None = Field(
        None, description="a signed acknowledgement's electronic signature (else null)"
    )


class Alarm(Response):
    alarm_id: str = ""
    origin: Literal["edge", "central"] = "edge"
    gateway: str | None = None
    subject: str | None = None
    rule: str = ""
    threshold: float | None = None
    value: float | None = None
    raised_at: MaybeTime = None
    cleared_at: MaybeTime = None
    clear_value: float | None = None
    duration_s: float | None = None
    priority: Literal["critical", "warning"] | None = Field(
        None, description="from the edge rule (null: central's own alarm or an older gateway)"
    )
    state: Literal["active", "cleared"] = "active"
    acks: list[Ack] = []
    acknowledged: bool = Field(False, description="at least one acknowledgement exists")
    unit: str | None = Field(
        None,
        description="of value and threshold: the sensor's unit, `<unit>/min` for rate rules, "
        "`s` (silence) for offline rules",
    )


class Pending(Response):
    rule: Literal["high", "low"] = "high"
    threshold: float = 0.0
    for_s: float = 0.0
    since: MaybeTime = None


class SensorAcks(Response):
    sensor: str = ""
    acks: list[Ack] = []


class Sensor(Response):
    id: str = ""
    gateway: str | None = None
    kind: str | None = None
    quantity: str | None = None
    unit: str | None = None
    site: str | None = None
    protocol: str | None = None
    alarms: dict[str, Any] = {}
    described_at: MaybeTime = None
    last_value: float | None = None
    last_time: MaybeTime = None
    last_seq: int | None = None
    analytics_status: str | None = None
    status: Literal[
        "normal", "alarm", "offline", "pending", "warning", "critical", "stale", "unknown"
    ] = "unknown"
    active_alarms: list[Alarm] = []
    pending: list[Pending] = Field(
        [],
        description="limits the latest value exceeds while no alarm of that rule is active "
        "(its `for` delay runs)",
    )


class RawReading(Response):
    time: Time = ""
    value: float = 0.0


class Bucket(Response):
    time: Time = ""
    min: float = 0.0
    avg: float = 0.0
    max: float = 0.0
    count: int = 0


class Readings(Response):
    sensor: str = ""
    from_: Time = Field("", alias="from")
    to: Time = ""
    step: float | None = None
    truncated: bool = Field(False, description="raw: `limit` rows returned")
    readings: list[RawReading] = []
    buckets: list[Bucket] = []


class Report(Response):
    sensor: str = ""
    from_: Time = Field("", alias="from")
    to: Time = ""
    unit: str | None = None
    thresholds: dict[str, Any] = {}
    delta_h_kj_per_mol: float = 0.0
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    time_weighted_mean: float | None = None
    covered_s: float = 0.0
    time_above_s: float | None = None
    time_below_s: float | None = None
    mkt: float | None = Field(None, description="mean kinetic temperature, ΔH = 83.144 kJ/mol")


class Gateways(Response):
    gateways: list[Gateway] = []


class Sensors(Response):
    sensors: list[Sensor] = []


class Alarms(Response):
    alarms: list[Alarm] = []


class Session(Response):
    username: str
    role: Role
    # null when the caller is an API key (no session, no CSRF token)
    csrf_token: str | None = None


class User(Response):
    name: str
    role: Role
    email: str | None = None
    phone: str | None = None
    created: Time = ""
    updated: MaybeTime = None  # null: never / not
    disabled: MaybeTime = None


class Users(Response):
    users: list[User]


class UserChanged(Response):
    name: str
    role: Role
    disabled: bool
    email: str | None = None
    phone: str | None = None


class AuditEntry(Response):
    id: int
    at: Time
    actor: str
    action: str
    target: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    prev_hash: str = ""
    hash: str = ""
    problem: str | None = None


class Checkpoint(Response):
    id: int
    at: Time
    rows: int
    head: str


class Chain(Response):
    ok: bool
    rows: int
    head: str = ""
    problems: list[Any] = []
    checkpoint: Checkpoint | None = Field(
        None, description="the newest signed checkpoint that verifies (--audit-key)"
    )
    verified_from: int = Field(1, description="first row whose chain was recomputed")


class AuditTrail(Response):
    chain: Chain
    entries: list[AuditEntry]


RESPONSES: tuple[type[Response], ...] = (
    Error,
    CloudEvent,
    IngestResult,
    Gateways,
    Sensors,
    Readings,
    Alarms,
    Ack,
    SensorAcks,
    Report,
    Session,
    Users,
    UserChanged,
    AuditTrail,
)


# --- the OpenAPI document's schemas (central/openapi.py) -------------------------------


def tidy(node: Any) -> Any:
    """pydantic's JSON Schema, shorter: no titles or defaults, `X | None` as `[X, "null"]`."""
    if isinstance(node, list):
        return [tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: tidy(value)
        for key, value in node.items()
        if key != "default" and not (key == "title" and isinstance(value, str))
    }
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (only,) = [o for o in options if o != {"type": "null"}]
        if isinstance(only.get("type"), str):
            del out["anyOf"]
            out = {**only, **out, "type": [only["type"], "null"]}
    return out


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON request body described by `model`, its nested models inlined."""
    schema = tidy(_inline(model.model_json_schema()))
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref` to its own `$defs` replaced by the definition."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**walk(defs[ref.removeprefix("#/$defs/")]), **walk(rest)}
        return {key: walk(value) for key, value in node.items()}

    return dict(walk(schema))


def components(extra: tuple[type[Response], ...] = ()) -> dict[str, Any]:
    """Every response model (and the models they nest) by name, for `#/components/schemas`;
    `extra`: another module's (central/schemas_qa.py)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "serialization") for m in (*RESPONSES, *extra)
    ]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return dict(sorted(tidy(defs["$defs"]).items()))
