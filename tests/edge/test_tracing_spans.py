"""W3C traceparent parsing (runtime.tracing.span_context), as the Trace Context spec reads it,
and the parents and links of batch spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import tracing
from runtime.tracing import span_context

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_valid_traceparent_gives_its_ids_and_flags() -> None:
    ctx = span_context(VALID)
    assert ctx is not None and ctx.is_remote
    assert f"{ctx.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{ctx.span_id:016x}" == "00f067aa0ba902b7"
    assert int(ctx.trace_flags) == 1


def test_a_later_version_with_more_fields_is_read_by_its_first_four() -> None:
    ctx = span_context("01" + VALID[2:] + "-what-comes-next")
    assert ctx is not None and f"{ctx.span_id:016x}" == "00f067aa0ba902b7"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        VALID.upper(),  # hex must be lowercase
        VALID + "-extra",  # version 00 has exactly four fields
        "ff" + VALID[2:],  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-0x4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",  # not hex digits
    ],
)
def test_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert span_context(value) is None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into the SDK's in-memory exporter (the process-wide provider untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = tracing._enabled, tracing._tracer
    tracing._enabled, tracing._tracer = True, provider.get_tracer("tracseq")
    try:
        yield exporter
    finally:
        tracing._enabled, tracing._tracer = saved


def _traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def test_batch_span_continues_the_first_sampled_trace_and_links_the_sampled_others(
    spans: InMemorySpanExporter,
) -> None:
    unsampled = _traceparent(1, 1, sampled=False)
    first, other = _traceparent(2, 2, sampled=True), _traceparent(3, 3, sampled=True)
    with tracing.batch_span("edge.log.commit", [unsampled, first, first, other]):
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is not None and (span.parent.trace_id, span.parent.span_id) == (2, 2)
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [(3, 3)]


def test_batch_span_of_unsampled_traces_only_is_not_recorded(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.batch_span("edge.log.commit", [_traceparent(1, 1, sampled=False)]) as span:
        assert not span.is_recording()
    assert spans.get_finished_spans() == ()
