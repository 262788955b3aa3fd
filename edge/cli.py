"""`tracseq-edge`: the one entry point (contract: "Command line").

Exit codes: 0 ok, 2 bad configuration or arguments (a clear message, never a traceback),
1 runtime failure. Subcommands that belong to other packages (`central`, `analytics`,
`simulate`, `demo`) parse their own arguments in their own module.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from runtime.cli_args import ArgumentParser
from runtime.errors import ConfigError, TracseqError
from runtime.logging_setup import setup_logging

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2

# command -> module with `main(argv: list[str]) -> int`, imported only when used.
DELEGATED = {
    "simulate": "sim.cli",
    "central": "central.cli",
    "analytics": "analytics.cli",
    "demo": "sim.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="tracseq-edge", description="TracSeq Edge lab IoT gateway")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in (
        ("run", "run the edge daemon (foreground; systemd Type=notify aware)"),
        ("check", "validate a config: a table of sensors, or every error with file:line"),
        ("status", "buffer depth, delivery cursors, rejects, active alarms"),
    ):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("-c", "--config", required=True, help="path to sensors.yaml")
        cmd.add_argument("--log-format", choices=("text", "json"), default=None)
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="machine-readable output")
    for name, module in DELEGATED.items():
        sub.add_parser(name, help=f"see `tracseq-edge {name} --help`", add_help=False)
        del module
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[args_list[0]])
        return int(module.main(args_list[1:]))
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.version:
        from importlib.metadata import version

        print(version("tracseq-edge"))
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    setup_logging(args.log_format)
    try:
        if args.command == "check":
            from edge.check import run_check

            return run_check(args.config)
        if args.command == "status":
            from edge.status import run_status

            return run_status(args.config, as_json=args.json)
        from edge.daemon import run_daemon

        return run_daemon(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except TracseqError as exc:
        logging.getLogger("tracseq.edge").error("%s", exc)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
