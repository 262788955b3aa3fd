"""Argument parsing shared by every `tracseq-edge` subcommand: bad arguments exit 2."""

from __future__ import annotations

import argparse
import sys

from runtime.durations import parse_duration

EXIT_ARGS = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the contract's exit code for bad arguments (2) and no traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ARGS)


def duration_arg(text: str) -> float:
    """An argparse `type=` for durations (`30s`, `5m`), with the duration parser's message."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
