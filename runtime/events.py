"""The one CloudEvents 1.0 envelope builder and parser (contract: "Events").

Every reading, alarm and gateway event travels in this envelope, on the Redis stream and
in HTTP sync alike. `id` is `<gateway>:<seq>` for edge events, the de-duplication key
everywhere. Central and analytics import this module and nothing else from `edge`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from runtime.errors import EnvelopeError

SPECVERSION = "1.0"
TYPE_PREFIX = "org.tracseq."
EDGE_SOURCE_PREFIX = "tracseq-edge/"
ANALYTICS_SOURCE_PREFIX = "tracseq-analytics/"
_EDGE_PREFIX_LEN = len(EDGE_SOURCE_PREFIX)
CONTENT_TYPE = "application/json"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
SINGLE_MEDIA_TYPE = "application/cloudevents+json"

READING = "org.tracseq.reading"
ALARM_RAISED = "org.tracseq.alarm.raised"
ALARM_CLEARED = "org.tracseq.alarm.cleared"
ALARM_ACKNOWLEDGED = "org.tracseq.alarm.acknowledged"  # central, on the live stream only
ALARM_NOTIFIED = "org.tracseq.alarm.notified"  # the edge e-mailed someone itself (fallback)
GATEWAY_STARTED = "org.tracseq.gateway.started"
GATEWAY_STOPPED = "org.tracseq.gateway.stopped"
GATEWAY_HEARTBEAT = "org.tracseq.gateway.heartbeat"
SENSOR_DESCRIBED = "org.tracseq.sensor.described"
ANALYTICS_PREDICTION = "org.tracseq.analytics.prediction"
ANALYTICS_STATUS = "org.tracseq.analytics.status"
ANALYTICS_SENSOR_FAULT = "org.tracseq.analytics.sensor_fault"
# Events accepted from other lab services on POST /api/v1/events keep their own type.
EXTERNAL = "org.tracseq.external"

# A type is one line of safe characters: it names SSE events and log lines, where a CR or
# LF would start a forged frame or entry.
TYPE_PATTERN = r"^org\.tracseq\.[A-Za-z0-9._-]{1,200}$"
_TYPE = re.compile(r"org\.tracseq\.[A-Za-z0-9._-]{1,200}")  # TYPE_PATTERN, with fullmatch
_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype")
_REQUIRED = ("specversion", "id", "source", "type")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event in the contract's envelope; `time` is epoch seconds (None when absent)."""

    id: str
    source: str
    type: str
    time: float | None
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = None

    @property
    def gateway(self) -> str | None:
        """The gateway id of an edge event's source, else None."""
        source = self.source
        return source[_EDGE_PREFIX_LEN:] if source.startswith(EDGE_SOURCE_PREFIX) else None

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object of this event."""
        out: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        if self.time is not None:
            out["time"] = format_time(self.time)
        out["datacontenttype"] = CONTENT_TYPE
        out["data"] = self.data
        if self.traceparent is not None:
            out["traceparent"] = self.traceparent
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def to_stream_fields(self) -> dict[str, str]:
        """Fields of a Redis stream entry: the attributes plus `data` as a JSON string."""
        out = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        if self.time is not None:
            out["time"] = format_time(self.time)
        out["datacontenttype"] = CONTENT_TYPE
        out["data"] = orjson.dumps(self.data).decode()
        if self.traceparent is not None:
            out["traceparent"] = self.traceparent
        return out


def edge_source(gateway_id: str) -> str:
    return EDGE_SOURCE_PREFIX + gateway_id


def edge_event(
    gateway_id: str,
    seq: int,
    type_: str,
    *,
    time: float | None,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
) -> CloudEvent:
    """An edge event: id `<gateway>:<seq>`, `data.seq` set, source `tracseq-edge/<gateway>`."""
    payload = {"seq": seq}
    if data:
        payload.update(data)
    return CloudEvent(
        id=f"{gateway_id}:{seq}",
        source=EDGE_SOURCE_PREFIX + gateway_id,
        type=type_,
        time=time,
        subject=subject,
        data=payload,
    )


def format_time(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds: `2026-11-24T10:00:00.123Z`."""
    seconds, millis = divmod(round(epoch * 1000), 1000)
    return f"{_format_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _format_second(seconds: int) -> str:
    # strftime is most of format_time's cost; events of one second share this prefix.
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


# The epoch seconds format_time can write: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC).timestamp()
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def parse_time(text: str) -> float:
    """Epoch seconds of an RFC 3339 time with a zone; raises ValueError otherwise."""
    # Fast path for the form format_time writes (`2026-11-24T10:00:00.123Z`, two per
    # reading at ingest): the second is parsed once (cached) and the milliseconds added,
    # rounded exactly as datetime.timestamp() does. Anything else takes the full check.
    if type(text) is str and len(text) == 24 and text[19] == "." and text[23] == "Z":
        millis = text[20:23]
        second = _second_epoch(text[:19])
        if second is not None and millis.isascii() and millis.isdecimal():
            epoch = (second * 1000 + int(millis)) / 1000
            if epoch <= MAX_TIME:
                return epoch
    return _parse_time(text)


@functools.lru_cache(maxsize=4096)
def _second_epoch(prefix: str) -> int | None:
    """Whole epoch seconds of `YYYY-MM-DDTHH:MM:SS` in UTC, None when not a valid time."""
    try:
        return int(_parse_time(prefix + "Z"))
    except ValueError:
        return None


def _parse_time(text: str) -> float:
    if not isinstance(text, str) or not _TIME.match(text):
        raise ValueError(f"not an RFC 3339 time with a zone: {text!r}")
    epoch = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    if not MIN_TIME <= epoch <= MAX_TIME:
        # e.g. 9999-12-31T23:59:59-14:00: stored, it broke every listing that shows it.
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC")
    return epoch


def valid_type(text: str) -> bool:
    """True for `org.tracseq.` and 1 to 200 of letters, digits, '.', '_', '-' (no CR/LF)."""
    return _TYPE.fullmatch(text) is not None


def parse(obj: Any) -> CloudEvent:
    """Validate one structured-mode event (a decoded JSON object) against the contract.

    The checks run first as one flat expression over the values JSON decoding gives
    (exact str/dict types); an event that passes them passes every rule of `_parse`,
    and any other event goes through `_parse`, which names the first field at fault.
    """
    if type(obj) is dict:
        get = obj.get
        id_, source, type_ = get("id"), get("source"), get("type")
        subject, time, dct = get("subject"), get("time"), get("datacontenttype")
        data = get("data", {})
        if data is None:
            data = {}
        spec, tp = get("specversion"), get("traceparent")
        if (
            type(spec) is str
            and spec == SPECVERSION
            and type(id_) is str
            and 0 < len(id_) <= 512
            and type(source) is str
            and 0 < len(source) <= 512
            and type(type_) is str
            and _TYPE.fullmatch(type_) is not None
            and (subject is None or type(subject) is str)
            and (dct is None or (type(dct) is str and dct == CONTENT_TYPE))
            and (time is None or type(time) is str)
            and type(data) is dict
            and _all_finite(data, 1)
            and (tp is None or (type(tp) is str and _TRACEPARENT.match(tp) is not None))
        ):
            try:
                epoch = None if time is None else parse_time(time)
            except ValueError:
                pass  # _parse names it
            else:
                return CloudEvent(id_, source, type_, epoch, subject, data, tp)
    return _parse(obj)


def _parse(obj: Any) -> CloudEvent:
    if not isinstance(obj, dict):
        raise EnvelopeError("", "an event must be a JSON object")
    for name in _REQUIRED:
        if name not in obj:
            raise EnvelopeError(name, "required attribute missing")
    for name in _ATTRIBUTES:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise EnvelopeError(name, f"must be a string, got {type(value).__name__}")
    if obj["specversion"] != SPECVERSION:
        raise EnvelopeError("specversion", f"must be '1.0', got {obj['specversion']!r}")
    for name in ("id", "source", "type"):
        if not obj[name] or len(obj[name]) > 512:
            raise EnvelopeError(name, "must be a non-empty string of at most 512 characters")
    if not valid_type(obj["type"]):
        raise EnvelopeError("type", f"must match {TYPE_PATTERN} (e.g. {READING})")
    dct = obj.get("datacontenttype")
    if dct is not None and dct != CONTENT_TYPE:
        raise EnvelopeError("datacontenttype", f"must be {CONTENT_TYPE!r}")
    time: float | None = None
    if obj.get("time") is not None:
        try:
            time = parse_time(obj["time"])
        except ValueError as exc:
            raise EnvelopeError("time", str(exc)) from None
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EnvelopeError("data", "must be a JSON object")
    _check_finite(data, "data")
    traceparent = obj.get("traceparent")
    if traceparent is not None and (
        not isinstance(traceparent, str) or not _TRACEPARENT.match(traceparent)
    ):
        raise EnvelopeError("traceparent", "not a W3C traceparent")
    return CloudEvent(
        id=obj["id"],
        source=obj["source"],
        type=obj["type"],
        time=time,
        subject=obj.get("subject"),
        data=data,
        traceparent=traceparent,
    )


def parse_stream_fields(fields: dict[str, str] | dict[bytes, bytes]) -> CloudEvent:
    """The inverse of `CloudEvent.to_stream_fields` (accepts the bytes redis-py returns)."""
    try:
        decoded: dict[str, Any] = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
    except UnicodeDecodeError as exc:  # an entry someone else XADDed to our stream
        raise EnvelopeError("", f"stream entry is not UTF-8 text: {exc.reason}") from None
    raw = decoded.get("data")
    if raw is not None:
        try:
            decoded["data"] = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError("data", f"not JSON: {exc}") from None
    return parse(decoded)


MAX_DATA_DEPTH = 32  # nesting of objects and arrays in `data`; deeper is refused


_FINITE_TYPES = frozenset({str, int, bool, type(None)})  # JSON scalars other than float


def plain_data(data: dict[str, Any]) -> bool:
    """True when `parse` accepts `data` without looking closer: JSON types only, finite
    numbers, nested at most MAX_DATA_DEPTH levels (False: `parse` decides and names why)."""
    return _all_finite(data, 1)


def _all_finite(container: dict[str, Any] | list[Any], depth: int) -> bool:
    """True when `_check_finite` would accept it (depth of `container` counted from 1)."""
    items: Iterable[Any] = container.values() if type(container) is dict else container
    for item in items:
        kind = type(item)
        if kind in _FINITE_TYPES:
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict or kind is list:
            if depth >= MAX_DATA_DEPTH or not _all_finite(item, depth + 1):
                return False
        else:  # a type JSON does not produce: let _check_finite judge it
            return False
    return True


def _check_finite(value: Any, path: str, depth: int = 0) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise EnvelopeError(path, "must be a finite number")
    if isinstance(value, dict | list) and depth >= MAX_DATA_DEPTH:
        # Found by fuzzing: ~1000 levels (orjson allows 1024) overflowed Python's stack.
        raise EnvelopeError(path, f"nested deeper than {MAX_DATA_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]", depth + 1)
