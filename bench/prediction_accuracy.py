"""How far off the first prediction of a failure is, over a set of simulated failures
(tests/analytics/failures.py): linear and Newton warming at 0.5-2 degC/min sampled every
1-30 s with noise, and the simulator's thermostat-cycled ULT with its compressor dying at
twelve points of its cycle. Prints the table that docs/analytics.md shows.

The error is (predicted breach - true breach) / (true breach - time of the prediction):
-0.33 is "a third early". Run: .venv/bin/python -m bench.prediction_accuracy
"""

from __future__ import annotations

import statistics

from tests.analytics.failures import Outcome, all_failures


def table(outcomes: list[Outcome]) -> str:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.name.split()[0], []).append(outcome)
    lines = [
        "| failures | n | predicted before the breach | lead (median) | error median | "
        "error range | within 25 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, group in [*groups.items(), ("all", outcomes)]:
        errors = [o.error for o in group if o.error is not None]
        leads = [o.breach - o.raised for o in group if o.raised is not None]
        within = sum(1 for e in errors if abs(e) <= 0.25)
        lines.append(
            f"| {name} | {len(group)} | {len(errors)} | {statistics.median(leads):.0f} s | "
            f"{statistics.median(errors):+.1%} | {min(errors):+.1%} … {max(errors):+.1%} | "
            f"{within}/{len(group)} |"
        )
    return "\n".join(lines)


def main() -> int:
    print(table(all_failures()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
