"""Pseudo-terminals that stand in for serial ports, reachable at a stable symlink.

`PtyPort` makes a pty pair in raw mode (no echo, no line editing, bytes as they are) and
points `<dir>/<name>` at its slave end, the path a gateway opens like `/dev/ttyUSB0`.
`PtyBridge` joins two ptys back to back (what `socat pty pty` does) so that a program
that wants to open a serial port path itself (the pymodbus RTU server) talks to the
gateway on the other pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import tty
from pathlib import Path


class PtyPort:
    """A raw pty pair; the slave's path is symlinked at `link` (replaced atomically)."""

    def __init__(self, link: Path | None = None, *, hold_slave: bool = True) -> None:
        if link is not None and link.exists() and not link.is_symlink():
            # A stale link from a killed simulator is replaced; anything else is not ours.
            raise FileExistsError(errno.EEXIST, "exists and is not a symlink", str(link))
        self.master, slave = os.openpty()
        tty.setraw(slave)  # persists while the master is open, across slave reopens
        self.slave_name = os.ttyname(slave)
        os.set_blocking(self.master, False)
        # Holding the slave open keeps the master from reporting hang-up (and reads from
        # failing with EIO) while nobody else has the port open.
        self._slave: int | None = slave
        if not hold_slave:
            os.close(slave)
            self._slave = None
        self.link = link
        if link is not None:
            link.parent.mkdir(parents=True, exist_ok=True)
            temp = link.with_name(f".{link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            temp.symlink_to(self.slave_name)
            temp.replace(link)

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.slave_name

    def listener_present(self) -> bool:
        """True if some process has the slave end open (only meaningful without holding)."""
        poller = select.poll()
        poller.register(self.master, select.POLLOUT)
        return not any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def discard_input(self) -> None:
        """Drop whatever the other side wrote to us (the LN2 monitor ignores commands)."""
        with contextlib.suppress(OSError):
            while os.read(self.master, 4096):
                pass

    def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.slave_name:
                    self.link.unlink()
        for fd in (self._slave, self.master):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._slave = None


class PtyBridge:
    """Copies bytes both ways between the masters of two ptys, in the event loop.

    Bytes that do not fit are dropped, as on a real line with nobody reading.
    """

    def __init__(self, inner: PtyPort, outer: PtyPort) -> None:
        self.inner = inner
        self.outer = outer
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.outer.master, self._copy, self.outer.master, self.inner.master)
        self._loop.add_reader(self.inner.master, self._copy, self.inner.master, self.outer.master)

    def _copy(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(dst, data)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.outer.master)
            self._loop.remove_reader(self.inner.master)
            self._loop = None
