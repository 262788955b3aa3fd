"""Argument parsing shared by every `tracseq-edge` subcommand: bad arguments exit 2, and
every option can come from a `TRACSEQ_*` environment variable.

The variable's name is derived from the option's long name, the same way for every
command: `--central` -> `TRACSEQ_CENTRAL`, `--central-token-file` ->
`TRACSEQ_CENTRAL_TOKEN_FILE`, `-c/--config` -> `TRACSEQ_CONFIG`. A command-line option
wins over the variable, the variable over the built-in default; each option's `--help`
line names its variable. Flags take 1/true/yes/on or 0/false/no/off; options that may be
repeated take several values separated by spaces. A bad value is a usage error (exit 2)
naming the variable. So a systemd unit or a container sets `Environment=TRACSEQ_...`
instead of editing its command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from runtime.durations import parse_duration

EXIT_ARGS = 2
ENV_PREFIX = "TRACSEQ_"
_NO_ENV = frozenset({"--help", "--version"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(option: str) -> str:
    """`--central-token-file` -> `TRACSEQ_CENTRAL_TOKEN_FILE`."""
    return ENV_PREFIX + option.lstrip("-").replace("-", "_").upper()


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the contract's exit code for bad arguments (2), no traceback, and a
    `TRACSEQ_*` environment variable for every option (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._variables: list[tuple[argparse.Action, str]] = []

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ARGS)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        longs = [n for n in names if isinstance(n, str) and n.startswith("--")]
        if not longs or longs[0] in _NO_ENV or kwargs.get("action") in ("help", "version"):
            return super().add_argument(*names, **kwargs)
        variable = env_name(longs[0])
        help_text = kwargs.get("help")
        if help_text is not argparse.SUPPRESS:
            kwargs["help"] = f"{help_text} [env {variable}]" if help_text else f"[env {variable}]"
        action = super().add_argument(*names, **kwargs)
        self._variables.append((action, variable))
        return action

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        for action, variable in self._variables:
            value = os.environ.get(variable)
            if value is not None:
                action.default = self._env_value(action, variable, value)
                action.required = False
        return super().parse_known_args(args, namespace)

    def _env_value(self, action: argparse.Action, variable: str, value: str) -> Any:
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            word = value.strip().lower()
            if word not in _TRUE | _FALSE:
                self.error(f"{variable}={value!r}: use 1/true/yes/on or 0/false/no/off")
            on = word in _TRUE
            return on if isinstance(action, argparse._StoreTrueAction) else not on
        if isinstance(action, argparse._AppendAction):
            return [self._one(action, variable, part) for part in value.split()]
        return self._one(action, variable, value)

    def _one(self, action: argparse.Action, variable: str, value: str) -> Any:
        try:
            converted = action.type(value) if callable(action.type) else value
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            message = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else "invalid value"
            self.error(f"{variable}={value!r}: {message}")
        if action.choices is not None and converted not in action.choices:
            choices = ", ".join(map(str, action.choices))
            self.error(f"{variable}={value!r}: use one of {choices}")
        return converted


def duration_arg(text: str) -> float:
    """An argparse `type=` for durations (`30s`, `5m`), with the duration parser's message."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
