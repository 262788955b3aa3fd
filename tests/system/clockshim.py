"""Runs `tracseq-edge` under libfaketime with only the wall clock faked.

libfaketime 0.9.10 (Debian bookworm) with FAKETIME_DONT_FAKE_MONOTONIC=1 makes
`time.sleep` fail with EINVAL (its clock_nanosleep wrapper converts an absolute
monotonic deadline as if it were faked). Asyncio, queues, events and locks are not
affected; only `time.sleep` is routed through select() here, which waits the same.
(FAKETIME_DISABLE_SHM=1 is needed too, or the process hangs at exit.)
"""

from __future__ import annotations

import select
import sys
import time


def _sleep(seconds: float) -> None:
    select.select([], [], [], max(0.0, seconds))


if __name__ == "__main__":
    time.sleep = _sleep
    from edge.cli import main

    sys.exit(main(sys.argv[1:]))
