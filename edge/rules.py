"""The rule engine's place in the data flow (drivers -> normalize -> log -> rules -> publishers).

The implementation lives in the `edge.alarms` package (pure rules, state, engine).
"""

from __future__ import annotations

from edge.alarms import ActiveAlarm, RuleEngine, active_alarms

__all__ = ["ActiveAlarm", "RuleEngine", "active_alarms"]
