"""Local alarms: rules evaluated on committed readings, alarm events in the durable log.

rules.py    pure state machines (high/low with delay and hysteresis, rate, offline)
sensors.py  concrete sensor id -> configured (possibly templated) sensor
store.py    alarm state in the log's key/value table; `active_alarms()` for status
transitions.py  the alarm.raised / alarm.cleared entries a transition records
engine.py   RuleEngine, the `rules` component wiring rules to the log and timers
"""

from __future__ import annotations

from edge.alarms.engine import RuleEngine
from edge.alarms.store import ActiveAlarm, active_alarms

__all__ = ["ActiveAlarm", "RuleEngine", "active_alarms"]
