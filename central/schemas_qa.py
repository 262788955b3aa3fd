"""Response models of the QA features: signatures, excursion reports, calibration records.

Beside central/schemas.py (the rest of the API) so each stays one concept; central/openapi.py
puts both sets under `#/components/schemas`, and central/openapi_qa.py refers to them.
What the routes return is built as dicts (central/report_data.py, central/calibration.py);
tests/qa/test_openapi_qa.py checks real answers against these models, field by field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from central.schemas import MaybeTime, Response, Role, Signature, Time


class Signatures(Response):
    signatures: list[Signature] = []


class SignatureProblem(Response):
    signature_id: int
    record_type: str
    record_id: str
    problem: str = Field(description="what no longer matches (content, audit row, record)")


class SignatureVerdict(Response):
    ok: bool
    checked: int = Field(description="signatures checked")
    problems: list[SignatureProblem] = []


class AckSigned(Response):
    """A signed acknowledgement as stored and announced."""

    id: int
    alarm_id: str
    by: str
    comment: str
    actor: str
    at: Time
    signature: Signature


class SensorAcksSigned(Response):
    sensor: str
    acks: list[AckSigned]


class RoleSigned(Response):
    name: str
    role: Role
    signature: Signature


class ApprovalSigned(Response):
    """A signed report approval: the record id it signed (`<kind>:<subject>:<from>:<to>`)."""

    record: str
    signature: Signature


class CalibrationSigned(Response):
    id: int
    sensor: str
    signature: Signature


class CalibrationValues(Response):
    nominal: float
    as_found: float
    as_left: float


class Calibration(Response):
    id: int
    sensor: str
    certificate: str
    reference: str = Field(description="the reference standard (and its own certificate)")
    performed_at: Time
    due_at: Time
    performed_by: str
    points: list[CalibrationValues]
    notes: str | None = None
    attachment_name: str | None = None
    attachment_sha256: str | None = None
    attachment_size: int | None = None
    created: Time
    updated: Time
    version: int
    signatures: list[Signature] = []


class Calibrations(Response):
    sensor: str
    due_at: MaybeTime = Field(None, description="the newest record's due date")
    overdue: bool
    calibrations: list[Calibration]


class CalibrationUsed(Response):
    id: int
    certificate: str
    performed_at: Time
    due_at: Time
    version: int


class Uncovered(Response):
    from_: Time = Field(alias="from")
    to: Time
    why: Literal["overdue", "no calibration yet"]


class CalibrationStatus(Response):
    status: Literal["valid", "gaps", "not managed"] = Field(
        description="valid: in calibration for the whole period"
    )
    records: list[CalibrationUsed] = []
    uncovered: list[Uncovered] = []


class Gap(Response):
    from_: Time = Field(alias="from")
    to: Time
    duration_s: float | None = None


class ReportAck(Response):
    id: int
    by: str
    comment: str
    at: Time
    actor: str
    signatures: list[Signature] = []


class Notified(Response):
    channel: str
    to: list[str]
    state: str = Field(description="pending, sending, sent, failed, cancelled")
    sent_at: MaybeTime = None
    level: int


class ExcursionAlarm(Response):
    state: Literal["raised", "already active", "no rule", "within delay", "missing"]
    why: str
    delay_s: float | None = Field(None, description="the rule's `for` delay")
    priority: Literal["critical", "warning"] | None = None


class Excursion(Response):
    start: Time
    end: Time
    duration_s: float
    peak: float = Field(description="highest (high) or lowest (low) value")
    rule: Literal["high", "low"]
    alarm_id: str | None
    acks: list[ReportAck]
    limit: float | None = None
    ongoing: bool = Field(description="the data ends outside the limit")
    readings: int
    mkt: float | None = Field(None, description="MKT during the excursion (temperatures)")
    gaps: list[Gap] = Field([], description="offline gaps inside the excursion")
    alarm: ExcursionAlarm
    notifications: list[Notified]


class Thresholds(Response):
    above: float | None = None
    below: float | None = None


class Approval(Signature):
    approved_sha256: str | None = Field(None, description="the content hash it approved")
    current: bool = Field(description="it approved this content (not an earlier version)")


class SensorReport(Response):
    kind: Literal["sensor"]
    sensor: str
    site: str | None = None
    from_: Time = Field(alias="from")
    to: Time
    unit: str | None = None
    thresholds: Thresholds
    delta_h_kj_per_mol: float
    count: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    time_weighted_mean: float | None = None
    covered_s: float
    time_above_s: float | None = None
    time_below_s: float | None = None
    mkt: float | None = Field(None, description="mean kinetic temperature, ΔH = 83.144 kJ/mol")
    time_out_of_range_s: float
    coverage: float | None = Field(None, description="share of the period the data covers")
    typical_interval_s: float | None = None
    gap_threshold_s: float | None = None
    gaps: list[Gap]
    excursions: list[Excursion]
    calibration: CalibrationStatus
    approvals: list[Approval] = Field([], description="absent inside a site report")
    content_sha256: str | None = Field(None, description="what an approval signs")
    record: str | None = Field(None, description="the record id an approval signs")


class SiteReport(Response):
    kind: Literal["site"]
    site: str
    from_: Time = Field(alias="from")
    to: Time
    sensor_count: int
    excursion_count: int
    time_out_of_range_s: float
    sensors: list[SensorReport]
    approvals: list[Approval]
    content_sha256: str
    record: str


RESPONSES: tuple[type[Response], ...] = (
    Signatures,
    SignatureVerdict,
    AckSigned,
    SensorAcksSigned,
    RoleSigned,
    ApprovalSigned,
    CalibrationSigned,
    Calibrations,
    SensorReport,
    SiteReport,
)


def undeclared(model: type[Response], value: Any, where: str = "") -> list[str]:
    """Keys of `value` that `model` (and its nested models) does not declare: what an
    answer holds that its schema does not say."""
    if not isinstance(value, dict):
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    out = [f"{where}{key}" for key in value if key not in fields]
    for key, field in fields.items():
        nested = _model_of(field.annotation)
        if nested is None or key not in value:
            continue
        items = value[key] if isinstance(value[key], list) else [value[key]]
        for i, item in enumerate(items):
            out += undeclared(nested, item, f"{where}{key}[{i}].")
    return out


def _model_of(annotation: Any) -> type[Response] | None:
    if isinstance(annotation, type) and issubclass(annotation, Response):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
