"""Every knob of the analytics processor, parsed once by the CLI (docs/analytics.md)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


def default_instance() -> str:
    """The consumer name: stable across restarts so own pending entries are re-read."""
    return os.environ.get("TRACSEQ_ANALYTICS_INSTANCE") or socket.gethostname()


@dataclass(frozen=True, slots=True)
class Judgement:
    """Parameters of the judgements (all times are event time, in seconds)."""

    warn_margin: float = 2.0  # warning within this many units of a limit
    stale_after: float = 600.0  # silence before `stale` when the sensor has no offline rule
    stale_check: float = 30.0  # how often (stream time per gateway) staleness is checked
    bucket: float = 15.0  # readings are reduced to one median per bucket for the trend
    window: float = 240.0  # the trend is fitted over this much of the most recent time
    min_span: float = 120.0  # a trend needs at least this much history
    confirm: int = 3  # consecutive bucket fits that must agree before a prediction
    horizon: float = 7200.0  # predictions further out than this are not raised
    update_margin: float = 0.2  # re-emit when the predicted time moves by this fraction
    update_min: float = 60.0  # ... and by at least this many seconds
    spike_rate: float = 3.0  # units per minute: faster rises are door spikes, not trends
    spike_max: float = 600.0  # a "spike" longer than this is accepted as the new level
    baseline: float = 1800.0  # the sensor's usual range is learnt over this much history
    baseline_min: float = 300.0  # no trend counts before this much history older than the window
    clear_after: float = 600.0  # an episode ends after this long without a breach in sight
    stuck_after: float = 1800.0  # value unchanged to the last digit this long: stuck
    stuck_min_readings: int = 10  # ... over at least this many readings
    noise_factor: float = 5.0  # short-term noise this many times the normal: noisy
    noise_min: float = 0.5  # ... and at least this large (units, mean absolute step)
    jump_rate: float = 2.0  # units per second between consecutive readings: impossible
    jump_min: float = 5.0  # ... and at least this large a step


@dataclass(frozen=True, slots=True)
class Settings:
    """The processor: where to read, where to write, how to share the work."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "tracseq:events"
    output: str = "tracseq:analytics"
    output_maxlen: int = 1_000_000
    group: str = "tracseq-analytics"
    instance: str = field(default_factory=default_instance)
    key_prefix: str = "tracseq:analytics:state"
    batch: int = 1000
    block_ms: int = 1000
    claim_idle: float = 30.0  # entries pending longer than this on another consumer are claimed
    max_sensor_gauges: int = 500  # cap on per-sensor metric series
    judgement: Judgement = field(default_factory=Judgement)
