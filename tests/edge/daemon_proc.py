"""Running `tracseq-edge run` as a real child process for daemon tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]

BASE_CONFIG = """\
gateway:
  id: test-gw
  heartbeat: 1s
  data_dir: ./var
  listen: 127.0.0.1:{port}
  intake_token_file: ./intake.token
"""


@dataclass
class DaemonProc:
    proc: subprocess.Popen[str]
    port: int
    config: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def write_config(directory: Path, extra: str = "", port: int | None = None) -> tuple[Path, int]:
    port = port or free_port()
    (directory / "intake.token").write_text("test-intake-token\n")
    path = directory / "sensors.yaml"
    path.write_text(BASE_CONFIG.format(port=port) + extra)
    return path, port


def start_daemon(
    directory: Path, extra: str = "", env: dict[str, str] | None = None, wait: bool = True
) -> DaemonProc:
    config, port = write_config(directory, extra)
    stderr_path = directory / "daemon.stderr"
    # The child holds its own copy of the descriptor; ours closes once Popen has handed it on.
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "-c", str(config), "--log-format", "text"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env={**os.environ, **(env or {})},
        )
    daemon = DaemonProc(proc, port, config, stderr_path)
    if wait:
        try:
            wait_until(lambda: daemon.ready() or proc.poll() is not None, timeout=20)
            assert proc.poll() is None, daemon.stderr()
        except BaseException:
            daemon.stop()  # reap the child so a failed start leaves no process behind
            raise
    return daemon
