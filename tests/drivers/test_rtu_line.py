"""The RTU line discipline on a manual clock: real pymodbus frames, time moved by hand."""

from __future__ import annotations

import asyncio

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from drivers.rtu_line import RtuLine
from runtime.clock import ManualClock

QUIET = 1.0


def _frame(value: int) -> bytes:
    response = ReadHoldingRegistersResponse(registers=[value], dev_id=1)
    return FramerRTU(DecodePDU(False)).buildFrame(response)


def _deliver(line: RtuLine, buffer: bytes) -> None:
    """What pymodbus does with a receive buffer: trace it, then decode its first frame."""
    line.packet(False, buffer)
    _, pdu = FramerRTU(DecodePDU(False)).handleFrame(buffer, 1, 0)
    if pdu is not None:
        line.received(pdu)


async def _settled(line: RtuLine, clock: ManualClock, steps: list[tuple[float, bytes]]) -> float:
    """Advance the clock by each step (delivering its bytes); the time `settle` returned."""
    start = clock.monotonic()
    task = asyncio.create_task(line.settle())
    for seconds, data in steps:
        await asyncio.sleep(0)
        if task.done():
            break
        clock.advance(seconds)
        if data:
            _deliver(line, data)
    await asyncio.sleep(0)
    assert task.done()
    return clock.monotonic() - start


async def test_clean_line_sends_at_once_and_trusts_the_answer() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    assert await _settled(line, clock, []) == 0.0
    line.packet(True, b"request")
    _deliver(line, _frame(40) + _frame(90))
    assert await line.came_alone()  # nothing failed before: no reason to doubt it


async def test_after_a_failure_the_request_waits_for_silence_that_bytes_restart() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    line.failed()
    # a late answer 0.5 s after the failure: silence counts again from there
    waited = await _settled(line, clock, [(0.5, _frame(40)), (0.5, b""), (0.5, b"")])
    assert waited == 1.5


async def test_a_line_that_never_goes_quiet_gets_the_request_after_five_timeouts() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    line.failed()
    assert await _settled(line, clock, [(0.5, b"\x00")] * 20) == 5.0


async def test_on_a_suspect_line_two_frames_for_one_request_are_not_trusted() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    line.failed()
    line.packet(True, b"request")
    _deliver(line, _frame(40) + _frame(90))  # the late answer and the fresh one, together
    check = asyncio.create_task(line.came_alone())
    await asyncio.sleep(0)
    clock.advance(QUIET)
    assert not await check
    assert line.suspect


async def test_on_a_suspect_line_a_frame_after_the_answer_is_caught_too() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    line.failed()
    line.packet(True, b"request")
    _deliver(line, _frame(40))
    check = asyncio.create_task(line.came_alone())
    await asyncio.sleep(0)
    clock.advance(0.3)
    _deliver(line, _frame(90))
    clock.advance(0.7)
    assert not await check


async def test_an_answer_that_came_alone_makes_the_line_clean_again() -> None:
    clock = ManualClock()
    line = RtuLine(clock, QUIET)
    line.failed()
    line.packet(True, b"request")
    clock.advance(0.1)
    _deliver(line, _frame(90))
    check = asyncio.create_task(line.came_alone())
    await asyncio.sleep(0)
    clock.advance(0.9)  # the rest of the request's timeout: nothing else came
    assert await check
    assert not line.suspect
