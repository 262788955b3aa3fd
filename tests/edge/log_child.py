"""Child process for the crash test: appends readings in a tight loop and prints each
committed seq range (`first last`) on stdout, flushed, right after the commit returns."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from edge.entry import Entry
from edge.log import DurableLog
from runtime import events


async def main(path: Path) -> None:
    log = DurableLog.open(path, cursors=("sync",))
    n = 0
    while True:
        now = time.time()
        entries = [
            Entry(events.READING, f"s{i % 7}", None, now, {"value": float(n + i)})
            for i in range(200)
        ]
        n += 200
        seqs = await log.append(entries)
        done = [s for s in seqs if s is not None]
        sys.stdout.write(f"{done[0]} {done[-1]}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
