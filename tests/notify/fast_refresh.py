"""`tracseq-edge central` whose Alertmanager refresh comes every SECONDS instead of every
minute, so a test sees several refreshes in seconds (the interval is not a CLI option):

    python -m tests.notify.fast_refresh SECONDS --db URL --listen HOST:PORT ...
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from central import cli
from central.settings import Settings


def main(argv: list[str]) -> int:
    every = float(argv[0])
    real = cli._settings

    def settings(args: argparse.Namespace) -> Settings:
        return dataclasses.replace(real(args), notify_refresh=every)

    cli._settings = settings
    return cli.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
