"""Per-sensor gauges obey the cardinality cap; the HTTP app serves them."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import generate_latest
from redis import Redis

from analytics.consumer import Processor
from analytics.metrics import Metrics
from tests.analytics.conftest import drain
from tests.analytics.scenario import FREEZER_ALARMS, Gateway, freezer, publish


def test_sensor_gauges_stop_at_the_cap_and_count_the_rest() -> None:
    metrics = Metrics(max_sensor_gauges=3)
    for n in range(10):
        metrics.sensor(f"s{n}", -80.0, "normal")
    text = generate_latest(metrics.registry).decode()
    values = [
        line for line in text.splitlines() if line.startswith("tracseq_analytics_sensor_value")
    ]
    assert len(values) == 3
    assert "tracseq_analytics_sensor_gauges_dropped 7.0" in text


async def test_processor_exports_sensor_status_and_lag(
    redis_client: Redis, make_processor: Callable[..., Processor]
) -> None:
    gw = Gateway()
    for n in range(5):
        gw.describe(f"s{n}", FREEZER_ALARMS)
        freezer(gw, f"s{n}", lambda s: -80.0, 60.0)
    publish(redis_client, "tracseq:events", gw.events)
    processor = make_processor(max_sensor_gauges=2)
    await drain(processor)
    processor._next_lag = 0.0
    await processor.step()
    text = generate_latest(processor.metrics.registry).decode()
    assert 'tracseq_analytics_sensor_status{sensor="s0",status="normal"} 1.0' in text
    assert "tracseq_analytics_sensor_gauges_dropped 3.0" in text
    assert "tracseq_analytics_consumer_lag_events 0.0" in text
    assert 'tracseq_analytics_events_processed_total{type="org.tracseq.reading"} 60.0' in text
