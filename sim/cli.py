"""`tracseq-edge simulate`: the simulated lab fleet from the command line.

Exit codes: 0 after the duration or on SIGTERM/SIGINT, 2 for bad arguments or a bad
scenario file (a clear message, no traceback), 1 when an output cannot be started.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from runtime.cli_args import ArgumentParser, duration_arg
from runtime.errors import ConfigError
from runtime.events import parse_time
from runtime.logging_setup import setup_logging
from sim.errors import SimulatorError
from sim.fleet import Fleet
from sim.runner import SimOptions, run_simulator
from sim.scenario import KINDS, Event, load_scenario, parse_event

EXIT_OK, EXIT_RUNTIME, EXIT_ARGS = 0, 1, 2

SHORTCUTS = ("door-open", "compressor-failure", "dropout", "garbage")


def _optional(text: str) -> str | None:
    return None if text.lower() in ("", "none", "off") else text


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="tracseq-edge simulate",
        description="Simulated freezers, fridges, incubators and LN2 dewars over MQTT, "
        "Modbus TCP/RTU and a serial pty, with scripted failures.",
        epilog=f"event kinds: {', '.join(KINDS)}. Times are simulated time since the start.",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per wall second (60: a minute per second)",
    )
    p.add_argument(
        "--rate", type=float, default=1.0, help="messages per second per sensor (default 1)"
    )
    p.add_argument(
        "--duration",
        type=duration_arg,
        default=None,
        help="simulated time to run, e.g. 2h (default: until stopped)",
    )
    p.add_argument("--ult-count", type=int, default=12, help="ULT freezers F01..Fnn (default 12)")
    p.add_argument("--fridge-count", type=int, default=0, help="Zigbee fridges (default 0)")
    p.add_argument(
        "--mqtt-url",
        type=_optional,
        default="mqtt://127.0.0.1:1883",
        help="broker (default mqtt://127.0.0.1:1883; 'none' to disable)",
    )
    p.add_argument("--mqtt-client-id", default="tracseq-sim")
    p.add_argument("--modbus-host", default="127.0.0.1")
    p.add_argument(
        "--modbus-port",
        type=_optional,
        default="5020",
        help="Modbus TCP port (default 5020; 0 any free port; 'none' to disable)",
    )
    p.add_argument(
        "--pty-dir",
        type=_optional,
        default="var/sim",
        help="where the rs485 and ln2 pty links go (default var/sim; 'none')",
    )
    p.add_argument(
        "--record", type=Path, default=None, help="append every sent reading to this JSONL file"
    )
    p.add_argument(
        "--clock",
        choices=("wall", "sim"),
        default="wall",
        help="payload times: wall clock (default) or simulated time",
    )
    p.add_argument(
        "--start",
        default=None,
        help="with --clock sim: RFC 3339 time of simulated time 0 (default now)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="SPEC|FILE",
        help="KIND:TARGET@AT[:FOR] (e.g. compressor-failure:F12@60s) or a YAML file",
    )
    for kind in SHORTCUTS:
        p.add_argument(
            f"--{kind}",
            action="append",
            default=[],
            metavar="TARGET@AT" if kind == "garbage" else "TARGET@AT[:FOR]",
            dest=kind.replace("-", "_"),
            help=f"shortcut for --scenario {kind}:...",
        )
    p.add_argument("--log-format", choices=("text", "json"), default=None)
    return p  # fmt: skip


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """SimOptions from parsed arguments; ValueError/ConfigError naming the bad one."""
    events: list[Event] = []
    for spec in args.scenario:
        if "@" in spec:
            events.append(parse_event(spec))
        else:
            events.extend(load_scenario(Path(spec)))
    for kind in SHORTCUTS:
        for spec in getattr(args, kind.replace("-", "_")):
            try:
                events.append(parse_event(spec, kind))
            except ValueError as exc:
                raise ValueError(f"--{kind} {exc}") from None
    port = None
    if args.modbus_port is not None:
        try:
            port = int(args.modbus_port)
        except ValueError:
            raise ValueError(f"--modbus-port: not a port number: {args.modbus_port!r}") from None
    start = None
    if args.start is not None:
        try:
            start = parse_time(args.start)
        except ValueError:
            raise ValueError(f"--start: not an RFC 3339 time: {args.start!r}") from None
    options = SimOptions(
        seed=args.seed,
        speed=args.speed,
        rate=args.rate,
        duration=args.duration,
        ult_count=args.ult_count,
        fridge_count=args.fridge_count,
        mqtt_url=args.mqtt_url,
        mqtt_client_id=args.mqtt_client_id,
        modbus_host=args.modbus_host,
        modbus_port=port,
        pty_dir=None if args.pty_dir is None else Path(args.pty_dir),
        events=events,
        record=args.record,
        clock=args.clock,
        start=start,
    )
    options.validate()
    return options


async def _serve(options: SimOptions) -> None:
    loop = asyncio.get_running_loop()
    async with run_simulator(options) as sim:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sim.stop)
        try:
            parts = [f"speed x{options.speed:g}", f"{len(sim.fleet.devices)} devices"]
            if sim.mqtt is not None:
                parts.append(f"mqtt {sim.mqtt.host}:{sim.mqtt.port}")
            if sim.modbus_port is not None:
                parts.append(f"modbus tcp {options.modbus_host}:{sim.modbus_port}")
            if sim.rs485_path is not None:
                parts.append(f"rtu {sim.rs485_path}, serial {sim.ln2_path}")
            print("simulating: " + ", ".join(parts), file=sys.stderr, flush=True)
            await sim.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = options_from_args(args)
        # Fleet-level checks (unknown device, event the device cannot have) happen here.
        Fleet(seed=1, ult_count=options.ult_count, fridge_count=options.fridge_count,
              events=options.events)  # fmt: skip
    except ConfigError as exc:
        print(f"tracseq-edge simulate: {exc}", file=sys.stderr)
        return EXIT_ARGS
    except ValueError as exc:
        print(f"tracseq-edge simulate: error: {exc}", file=sys.stderr)
        return EXIT_ARGS
    setup_logging(args.log_format)
    try:
        asyncio.run(_serve(options))
    except SimulatorError as exc:
        print(f"tracseq-edge simulate: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
