"""One Modbus connection and whose turn it is: the polls and the coil writes that share it.

The polling driver (`drivers.modbus`) opens the connection's one client and publishes it
here; an alarm output on an RTU bus the sensors already poll writes its coils through this
same client (`drivers.modbus_out.BusCoilWriter`), since a serial port takes one client.
Every request takes a `turn`: one at a time, never interleaved, each followed by the
connection's `frame_pause`. A write also keeps the RTU line discipline (`drivers.rtu_line`)
that the polls keep: after a failed request it waits for the line to fall silent and trusts
an answer only if it came alone, and a write that failed makes the line suspect for the
next poll, so no late answer is taken for another request's. A write while the connection
is not open fails at once (`OutputError`); the output retries with its own backoff, and
the driver alone reopens the connection. Only at start does a write wait, for the driver's
first attempt to open it (an output may start before the driver), at most two timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from drivers.base import CoilRefused, OutputError
from drivers.rtu_line import RtuLine
from edgeconfig import Modbus
from runtime.clock import Clock


class ModbusBus:
    """The open client of one connection (None while closed) and the turns taken on it."""

    def __init__(self, where: str, settings: Modbus, clock: Clock, line: RtuLine | None) -> None:
        self.where = where  # port or host:port, for messages
        self.line = line  # RTU only: frames there carry no transaction id
        self.client: Any = None  # set by the driver while the connection is open
        self.error = "not connected yet"  # why the connection is not open
        self._clock = clock
        self._timeout = settings.timeout  # of a request, and of an attempt to connect
        self._frame_pause = settings.frame_pause
        self._lock = asyncio.Lock()
        self._attempted = asyncio.Event()  # the driver has tried to open the connection

    def attempted(self) -> None:
        """The driver's attempt to open the connection is over (opened or not)."""
        self._attempted.set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The connection to oneself for one request (or a reconnect), then the frame pause."""
        async with self._lock:
            try:
                yield
            finally:
                # Even after a failed request the next frame must keep its distance; only
                # a shutdown does not wait.
                task = asyncio.current_task()
                if self._frame_pause > 0 and not (task is not None and task.cancelling()):
                    await self._clock.sleep(self._frame_pause)

    async def write(self, what: str, request: Callable[[Any], Awaitable[None]]) -> None:
        """Send one write (`request(client)`, raising OutputError) between two polls.

        `what` names it in errors (`coil 5`)."""
        await self._first_attempt()
        async with self.turn():
            client = self.client
            if client is None or not client.connected:
                raise OutputError(
                    f"{self.where}: {what} not written: the port is not open ({self.error})"
                )
            line = self.line
            if line is not None:
                await line.settle()
            try:
                await request(client)
                if line is not None and not await line.came_alone():
                    raise OutputError(
                        f"{self.where}: {what} not confirmed: another answer came with the "
                        "device's (a late one)"
                    )
            except CoilRefused:
                raise  # the device answered: nothing late is on its way
            except OutputError:
                if line is not None:
                    line.failed()  # its answer may still come, after the next request
                raise

    async def _first_attempt(self) -> None:
        """Until the driver has tried to open the connection once (a connect takes at most
        one timeout; a driver that never runs costs two)."""
        if self._attempted.is_set():
            return
        attempted = asyncio.ensure_future(self._attempted.wait())
        timer = asyncio.ensure_future(self._clock.sleep(2 * self._timeout))
        try:
            await asyncio.wait({attempted, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (attempted, timer):
                task.cancel()
            await asyncio.gather(attempted, timer, return_exceptions=True)
