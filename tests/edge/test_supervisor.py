"""The supervisor restarts failed components; expected failures are one clear line, bugs
keep their traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from edge.errors import LogError
from edge.supervisor import Supervisor
from runtime.clock import SystemClock
from runtime.health import Health


class FailsOnce:
    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise self.error

    def health(self) -> Health:
        return Health("connected")


def test_expected_failure_is_one_line_and_a_bug_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = FailsOnce("sync", LogError("the durable log could not commit"))
    bug = FailsOnce("rules", RuntimeError("boom"))

    async def scenario() -> None:
        supervisor = Supervisor(SystemClock(), backoff_cap=0.01)
        supervisor.add(expected)
        supervisor.add(bug)
        await asyncio.wait_for(supervisor.run(), timeout=5)

    with caplog.at_level(logging.ERROR, logger="tracseq.edge.supervisor"):
        asyncio.run(scenario())
    assert (expected.runs, bug.runs) == (2, 2), "both restarted once, then finished"
    by_name = {r.getMessage().split()[1]: r for r in caplog.records}
    assert "the durable log could not commit" in by_name["sync"].getMessage()
    assert by_name["sync"].exc_info is None
    assert by_name["rules"].exc_info is not None
