"""One process of the stack: started, killed with SIGKILL, paused, resumed, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def entry() -> list[str]:
    """How the tests run `tracseq-edge` (the installed entry point's module)."""
    return [sys.executable, "-m", "edge"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until true; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} (after {timeout:.0f}s)")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Proc:
    """A child process of ours, in its own session, output appended to `log`."""

    name: str
    argv: list[str]
    log: Path
    cwd: Path
    health_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== start #{self.starts + 1} of {self.name} ===\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.starts += 1
        if self.health_url:
            url = self.health_url
            wait_for(lambda: self._alive_or_raise() and http_ok(url), timeout, f"{self.name} up")

    def _alive_or_raise(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
        return True

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} is not running"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL, as a power cut would: nothing is flushed."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.popen = None

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (after SIGCONT, in case it is paused); SIGKILL after `timeout`."""
        if self.popen is None:
            return None
        popen = self.popen
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGCONT)
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        self.popen = None
        return popen.returncode

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def rss_bytes(self) -> int:
        """Resident set size from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))
