"""`tracseq-edge simulate` on the command line: arguments, exit codes, signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from tests.servers import free_port, wait_until

OFF = ["--mqtt-url", "none", "--modbus-port", "none", "--pty-dir", "none"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--door-open", "F03@30s"], "--door-open 'F03@30s': door-open needs a duration"),
        (["--scenario", "door-open:F99@1m:1m"], "unknown device 'F99'"),
        (["--scenario", "compressor-failure:ln2@1m"], "does not support compressor-failure"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--duration", "5 min"], "invalid duration '5 min'"),
        (["--mqtt-url", "http://x"], "only mqtt://host[:port]"),
        (["--modbus-port", "http"], "--modbus-port: not a port number"),
        (["--scenario", "missing.yaml"], "missing.yaml: No such file or directory"),
        (["--start", "yesterday", "--clock", "sim"], "--start: not an RFC 3339 time"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks
        code = int(str(exc.code))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_bad_scenario_file_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("events:\n  - {kind: door-open, target: F03, at: 30s, for: soon}\n")
    assert main(["--scenario", str(scenario), *OFF]) == 2
    assert f"{scenario}:2:5: events[0]: invalid duration 'soon'" in capsys.readouterr().err


def test_modbus_port_in_use_is_a_runtime_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["--mqtt-url", "none", "--pty-dir", "none", "--modbus-port", str(port),
                     "--duration", "1s", "--log-format", "text"])  # fmt: skip
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_runs_for_its_duration_and_records_what_it_sent(tmp_path: Path) -> None:
    record = tmp_path / "sent.jsonl"
    argv = ["--mqtt-url", "none", "--modbus-port", "none", "--pty-dir", str(tmp_path),
            "--speed", "60", "--rate", "20", "--duration", "1m", "--record", str(record),
            "--log-format", "text"]  # fmt: skip
    assert main(argv) == 0
    assert not (tmp_path / "ln2").exists()
    assert record.exists()  # nobody read the ln2 port: nothing recorded as sent
    assert [json.loads(line) for line in record.read_text().splitlines()] == []


def test_sigterm_stops_the_simulator_cleanly_with_exit_0(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "edge.cli", "simulate", "--mqtt-url", "none",
            "--modbus-port", str(free_port()), "--pty-dir", str(tmp_path),
            "--log-format", "json"]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (tmp_path / "ln2").is_symlink() and (tmp_path / "rs485").is_symlink())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not (tmp_path / "ln2").exists() and not (tmp_path / "rs485").exists()
    assert "simulator stopped" in err


def test_a_file_in_the_way_of_a_pty_link_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ln2").write_text("precious")
    argv = ["--mqtt-url", "none", "--modbus-port", "none", "--pty-dir", str(tmp_path),
            "--duration", "1s", "--log-format", "text"]  # fmt: skip
    assert main(argv) == 1
    assert "exists and is not a symlink" in capsys.readouterr().err
    assert (tmp_path / "ln2").read_text() == "precious"
    assert not (tmp_path / "rs485").exists()  # what did start was cleaned up
