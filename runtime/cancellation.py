"""Honouring a cancellation a library swallowed.

Libraries that send through `asyncio.wait_for` (redis-py, aiosmtplib, pymodbus) drop a
cancellation that arrives just as their operation completes on Python 3.11 (CPython
gh-86296): the call returns normally and a component being stopped carries on forever.
The task still reports the request in `cancelling()`, so a loop calls
`raise_if_cancelled()` after such a call and stops there.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError when the current task was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
