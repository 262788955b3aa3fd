"""`tracseq-edge analytics --redis URL --listen ADDR`: the analytics processor.

Exit codes (contract): 0 ok (stopped by SIGINT/SIGTERM), 2 bad arguments, 1 runtime failure
(e.g. the listen port is taken). Redis being down is not a failure: it is retried.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from analytics.consumer import Processor
from analytics.forward import Forwarder
from analytics.service import bind, serve
from analytics.settings import Judgement, Settings, default_instance
from runtime import tracing
from runtime.cli_args import ArgumentParser, duration_arg
from runtime.clock import SystemClock
from runtime.heap import freeze_startup_heap
from runtime.logging_setup import setup_logging
from runtime.systemd import notify, watchdog_interval, watchdog_loop

log = logging.getLogger(__name__)

EXIT_OK, EXIT_RUNTIME, EXIT_ARGS = 0, 1, 2


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def check(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
        return value

    return check


def build_parser() -> argparse.ArgumentParser:
    d, j = Settings(instance="-"), Judgement()
    p = ArgumentParser(
        prog="tracseq-edge analytics", description="analytics processor (Redis group)"
    )
    p.add_argument("--redis", default=d.redis_url, help="Redis URL (default %(default)s)")
    p.add_argument("--listen", default="127.0.0.1:8097", help="HOST:PORT for /healthz /metrics")
    p.add_argument("--stream", default=d.stream, help="input stream (default %(default)s)")
    p.add_argument("--output", default=d.output, help="output stream (default %(default)s)")
    p.add_argument("--group", default=d.group, help="consumer group (default %(default)s)")
    p.add_argument("--instance", default=None, help="consumer name (default: the hostname)")
    p.add_argument("--batch", type=int, default=d.batch, help="entries per read")
    p.add_argument(
        "--claim-idle",
        type=_positive(duration_arg),
        default=d.claim_idle,
        help="claim entries idle this long on another consumer (default 30s)",
    )
    p.add_argument(
        "--max-sensor-gauges",
        type=int,
        default=d.max_sensor_gauges,
        help="cap on per-sensor metric series (default %(default)s)",
    )
    p.add_argument(
        "--warn-margin",
        type=float,
        default=j.warn_margin,
        help="warning within this many units of a limit (default %(default)s)",
    )
    p.add_argument(
        "--stale-after",
        type=_positive(duration_arg),
        default=j.stale_after,
        help="silence before stale without an offline rule (default 10m)",
    )
    p.add_argument(
        "--window", type=_positive(duration_arg), default=j.window, help="trend window (default 4m)"
    )
    p.add_argument(
        "--horizon",
        type=_positive(duration_arg),
        default=j.horizon,
        help="predict breaches at most this far ahead (default 2h)",
    )
    p.add_argument(
        "--spike-rate",
        type=_positive(float),
        default=j.spike_rate,
        help="units/minute above which a change is a door spike (default 3)",
    )
    p.add_argument(
        "--stuck-after",
        type=_positive(duration_arg),
        default=j.stuck_after,
        help="unchanged value this long is a stuck sensor (default 30m)",
    )
    p.add_argument(
        "--central",
        default=None,
        help="central's URL: forward this instance's events to POST /api/v1/ingest",
    )
    p.add_argument(
        "--central-token-file",
        default=None,
        help="file with this instance's central token (tracseq-edge central token "
        "create NAME --analytics); or TRACSEQ_ANALYTICS_TOKEN",
    )
    p.add_argument("--log-format", choices=("text", "json"), default=None)
    return p  # fmt: skip


def settings_from(args: argparse.Namespace) -> Settings:
    judgement = replace(
        Judgement(),
        warn_margin=args.warn_margin,
        stale_after=args.stale_after,
        window=args.window,
        min_span=min(Judgement().min_span, args.window / 2),
        horizon=args.horizon,
        spike_rate=args.spike_rate,
        stuck_after=args.stuck_after,
    )
    return Settings(
        redis_url=args.redis,
        stream=args.stream,
        output=args.output,
        group=args.group,
        instance=args.instance or default_instance(),
        batch=args.batch,
        claim_idle=args.claim_idle,
        max_sensor_gauges=args.max_sensor_gauges,
        judgement=judgement,
    )


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _token(args: argparse.Namespace) -> str | None:
    """The central token, or None without --central; raises ValueError naming the problem."""
    if args.central is None:
        return None
    if not args.central.startswith(("http://", "https://")):
        raise ValueError(f"--central: expected an http(s) URL, got {args.central!r}")
    if args.central_token_file:
        try:
            token = Path(args.central_token_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"--central-token-file: {exc}") from None
    else:
        token = os.environ.get("TRACSEQ_ANALYTICS_TOKEN", "").strip()
    if not token:
        raise ValueError("--central needs --central-token-file or TRACSEQ_ANALYTICS_TOKEN")
    return token


async def _run(
    settings: Settings, host: str, port: int, central: str | None, token: str | None
) -> int:
    try:
        sock = bind(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        return EXIT_RUNTIME
    processor = Processor(settings)
    log.info(
        "analytics %s: %s group %s -> %s, http://%s:%d",
        settings.instance, settings.stream, settings.group, settings.output, host, port,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    forwarder = None
    if central is not None and token is not None:
        forwarder = Forwarder(settings, central, token, metrics=processor.metrics)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(processor.run()),
            group.create_task(serve(processor, sock, forwarder)),
        ]
        if forwarder is not None:
            tasks.append(group.create_task(forwarder.run()))
        # systemd Type=notify: ready once listening (the socket is bound); watchdog pings
        # from this loop, so a hung loop is restarted.
        freeze_startup_heap()
        notify("READY=1\nSTATUS=running")
        interval = watchdog_interval()
        if interval is not None:
            tasks.append(group.create_task(watchdog_loop(SystemClock(), interval)))
        await stop.wait()
        notify("STOPPING=1")
        for task in tasks:
            task.cancel()
    return EXIT_OK


def main(argv: list[str]) -> int:
    """`tracseq-edge analytics ...`; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        host, port = _listen(args.listen)
        token = _token(args)
    except ValueError as exc:
        print(f"tracseq-edge analytics: error: {exc}", file=sys.stderr)
        return EXIT_ARGS
    if args.batch <= 0 or args.max_sensor_gauges < 0:
        print("tracseq-edge analytics: error: --batch must be > 0, --max-sensor-gauges >= 0",
              file=sys.stderr)  # fmt: skip
        return EXIT_ARGS
    setup_logging(args.log_format)
    tracing.configure("tracseq-analytics")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_run(settings_from(args), host, port, args.central, token))
    finally:
        tracing.shutdown()
    return EXIT_OK
