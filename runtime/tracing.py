"""Tracing with the OpenTelemetry SDK, configured only by the standard `OTEL_*` variables.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` is set (OTLP/HTTP).
Spans are per batch, never per reading: a batch span links the traces of the readings
it carries, and the first reading's trace is its parent, so one trace follows a reading
from the driver through the log, the Redis XADD (`traceparent` field) into analytics, and
through the sync POST (W3C `traceparent` header) into central.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceFlags

# version-trace_id-span_id-flags; a later version may append fields (W3C Trace Context).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_MAX_LINKS = 32
_enabled = False
_tracer: trace.Tracer | None = None


def configure(service_name: str) -> bool:
    """Install an OTLP/HTTP exporter if the environment asks for one; True when on."""
    global _enabled, _tracer
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if exporter_name == "none" or not (endpoint or exporter_name):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _enabled, _tracer = True, None
    return True


def enabled() -> bool:
    return _enabled


def shutdown() -> None:
    """Flush pending spans (at exit)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if flush is not None:
        flush()


def tracer() -> trace.Tracer:
    """The one tracer (made once: `get_tracer` costs more than a span)."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("tracseq")
    return _tracer


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent of `span`, or None when tracing is off."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def span_context(traceparent: str | None) -> SpanContext | None:
    """Parse a W3C traceparent; None when absent or malformed.

    A regular expression rather than the propagator: a batch span parses one traceparent
    per intake batch it carries, and the propagator's round trip costs several times more."""
    match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    ctx = SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16))
    )
    return ctx if ctx.is_valid else None


@contextmanager
def batch_span(
    name: str,
    traceparents: Iterable[str | None] = (),
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, str | int] | None = None,
) -> Iterator[Span]:
    """A span for a batch: child of the first sampled traceparent, linked to the others.

    With a sampler (`OTEL_TRACES_SAMPLER`), only sampled traces exist in the backend: the
    batch continues the first of those (so a sampled reading's trace goes on through the
    commit, the XADD and the sync) and links only to sampled ones. When none of its
    traces was sampled, it follows the first, unsampled, and is not recorded either."""
    if not _enabled:
        yield trace.INVALID_SPAN
        return
    sampled: list[SpanContext] = []
    unsampled: SpanContext | None = None
    seen: set[str | None] = {None}
    for tp in traceparents:
        if tp in seen:  # a batch's readings mostly share one traceparent: parse it once
            continue
        seen.add(tp)
        ctx = span_context(tp)
        if ctx is None:
            continue
        if ctx.trace_flags.sampled:
            sampled.append(ctx)
            if len(sampled) > _MAX_LINKS:
                break
        elif unsampled is None:
            unsampled = ctx
    first = sampled[0] if sampled else unsampled
    # The parent goes to start_span directly (no attach/detach of a context for it); the
    # span itself becomes current, so spans opened inside the block are its children.
    parent = trace.set_span_in_context(trace.NonRecordingSpan(first)) if first else None
    links = [Link(ctx) for ctx in sampled[1:]]
    span = tracer().start_span(name, parent, kind, attributes, links)
    with trace.use_span(span, end_on_exit=True):
        yield span
