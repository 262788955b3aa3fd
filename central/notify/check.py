"""`tracseq-edge central notifications check FILE`: validate a notifications file.

Exit 0 with a summary (channels, groups, schedules, policies), or 2 with one
`file:line:col: path: message` line per problem.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from central.notify.config import load_notifications
from runtime.cli_args import ArgumentParser
from runtime.errors import ConfigError

EXIT_OK, EXIT_USAGE = 0, 2


def main(argv: Sequence[str]) -> int:
    """`argv` starts after `notifications`."""
    if list(argv[:1]) != ["check"]:
        print(
            "tracseq-edge central notifications: error: use `notifications check FILE`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    parser = ArgumentParser(prog="tracseq-edge central notifications check")
    parser.add_argument("file", metavar="FILE")
    args = parser.parse_args(list(argv[1:]))
    try:
        config = load_notifications(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: ok")
    for name, channel in sorted(config.channels.items()):
        print(f"  channel {name}: {channel.kind}")
    for name, members in sorted(config.groups.items()):
        print(f"  group {name}: {', '.join(members)}")
    for name, schedule in sorted(config.schedules.items()):
        print(f"  schedule {name}: {schedule.timezone}, {len(schedule.windows)} window(s)")
    for policy in config.policies:
        levels = ", ".join(f"after {lv.after:g}s" for lv in policy.levels)
        print(f"  policy {policy.name}: {len(policy.levels)} level(s) ({levels})")
    return EXIT_OK
