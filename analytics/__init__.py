"""The analytics processor: readings on the gateway's Redis stream become judgements.

Data flows one way: `consumer` reads a Redis consumer group, `judge` turns each sensor's
events into status changes, predictions and sensor faults (with `classify`, `predict`,
`health_checks`), and `state` commits the new sensor states, the output events and the
XACKs in one atomic step. `service` serves /healthz and /metrics; `cli` is
`tracseq-edge analytics`.
"""
