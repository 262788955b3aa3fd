"""Every option of every command has a TRACSEQ_* environment variable, named in --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli import build_parser as analytics_parser
from edge.cli import build_parser as edge_parser
from runtime.cli_args import ArgumentParser, duration_arg, env_name

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    ["run"],
    ["check"],
    ["status"],
    ["central"],
    ["central", "token", "create"],
    ["central", "apikey", "create"],
    ["central", "user", "create"],
    ["analytics"],
    ["simulate"],
    ["demo"],
]


def tracseq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_variable_names_come_from_the_long_option() -> None:
    assert env_name("--central") == "TRACSEQ_CENTRAL"
    assert env_name("--central-token-file") == "TRACSEQ_CENTRAL_TOKEN_FILE"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_option_in_help_names_its_variable(command: list[str]) -> None:
    result = tracseq(*command, "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.replace("\n                        ", " ").splitlines()
    options = [line.strip() for line in lines if line.strip().startswith("-")]
    assert options, result.stdout
    for line in options:
        if line.startswith(("-h, --help", "--version")):
            continue
        option = next(w.rstrip(",") for w in line.split() if w.startswith("--"))
        assert f"[env {env_name(option)}]" in " ".join(line.split()), line


def test_analytics_reaches_central_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACSEQ_CENTRAL", "https://central.lab:8095")
    monkeypatch.setenv("TRACSEQ_HORIZON", "30m")
    args = analytics_parser().parse_args([])
    assert args.central == "https://central.lab:8095"
    assert args.horizon == 1800.0
    assert analytics_parser().parse_args(["--central", "http://other"]).central == "http://other"


def test_a_required_option_may_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "sensors.yaml"
    config.write_text("gateway: {id: gw}\n")
    result = tracseq("check", env={"TRACSEQ_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert edge_parser().parse_args(["check", "-c", "x.yaml"]).config == "x.yaml"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRACSEQ_LOG_FORMAT", "xml", "TRACSEQ_LOG_FORMAT='xml': use one of text, json"),
        ("TRACSEQ_BATCH", "many", "TRACSEQ_BATCH='many': invalid value"),
        ("TRACSEQ_WINDOW", "4 min", "TRACSEQ_WINDOW='4 min': invalid duration"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    result = tracseq("analytics", env={variable: value})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_flags_and_repeated_options(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = ArgumentParser(prog="x")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--every", type=duration_arg, default=60.0)
    monkeypatch.setenv("TRACSEQ_JSON", "yes")
    monkeypatch.setenv("TRACSEQ_SCENARIO", "door:F1@10s  power:F2@1m")
    args = parser.parse_args([])
    assert args.json is True
    assert args.scenario == ["door:F1@10s", "power:F2@1m"]
    assert args.every == 60.0
