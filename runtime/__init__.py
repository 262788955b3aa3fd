"""The shared runtime below every TracSeq package: what the edge, central, analytics and
the simulator all need, and nothing that belongs to one of them.

events.py        the CloudEvents envelope: one builder, one parser
errors.py        the root of the error tree (TracseqError), ConfigError, EnvelopeError
health.py        Health/State: a component's state for /readyz
backoff.py       the one retry helper (capped exponential, full jitter)
clock.py         the injectable clock
durations.py     `5m`-style durations
tracing.py       OpenTelemetry set-up from the OTEL_* variables, traceparent parsing
logging_setup.py text/JSON logs
systemd.py       sd_notify and the watchdog interval
http_server.py   the small uvicorn server every service runs
http_limits.py   header-read deadline, keep-alive timeout, connection limit of every listener
private_files.py files holding secrets or private data, created 0600
heap.py          freezing the start-up heap
cli_args.py      the argument parser every command uses
"""
