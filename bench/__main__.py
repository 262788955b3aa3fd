"""`make bench`: every benchmark in turn, each writing its section of docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "log_append",
    "log_bytes",
    "mqtt_intake",
    "steady_rate",
    "redis_publish",
    "alarm_latency",
    "sync_drain",
    "central_ingest",
    "dashboard_query",
    "excursion_report",
    "analytics_throughput",
    "prediction_accuracy",
    "tracing_overhead",
    "scale_out",
    "records",
    "notify_latency",
    "fuzz",
]


def main() -> int:
    failed = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"== bench.{name}", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}"]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
