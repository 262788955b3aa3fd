"""Install artefacts: systemd units verify, the Dockerfile lints, compose.yaml is sound."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("tracseq-edge.service", "tracseq-central.service", "tracseq-analytics.service")
UNITS = [REPO / "systemd" / name for name in SERVICES]
# Everything systemd/ ships, the nightly backup's oneshot service and timer too.
ALL_UNITS = sorted(p for p in (REPO / "systemd").iterdir() if p.suffix in (".service", ".timer"))


def test_the_units_of_the_contract_and_the_backup_timer_exist() -> None:
    assert {u.name for u in ALL_UNITS} == {
        *SERVICES,
        "tracseq-backup.service",
        "tracseq-backup.timer",
    }


@pytest.mark.parametrize("unit", ALL_UNITS, ids=[u.name for u in ALL_UNITS])
def test_systemd_analyze_verify_passes(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: the README's test command installs systemd")
    # The units name the installed entry point; verify them against this checkout's one.
    entry = Path(sys.executable).parent / "tracseq-edge"
    text = unit.read_text().replace("/usr/bin/tracseq-edge", str(entry))
    copy = tmp_path / unit.name
    copy.write_text(text)
    if unit.suffix == ".timer":  # a timer is verified with the service it starts
        service = unit.with_suffix(".service")
        (tmp_path / service.name).write_text(
            service.read_text().replace("/usr/bin/tracseq-edge", str(entry))
        )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if unit.name in line and "Failed to" not in line  # no system bus in a container
    ]
    assert result.returncode == 0 or not problems, problems
    assert not problems, problems


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_units_are_notify_with_watchdog_and_no_tight_restart_loop(unit: Path) -> None:
    text = unit.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "RestartSec=",
        "StartLimitBurst=",
        "RestartPreventExitStatus=2",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "StateDirectory=",
    ):
        assert line in text, f"{unit.name} lacks {line}"


def test_edge_unit_checks_the_config_first_and_may_use_serial_devices() -> None:
    text = (REPO / "systemd" / "tracseq-edge.service").read_text()
    assert "ExecStartPre=/usr/bin/tracseq-edge check" in text
    assert "SupplementaryGroups=dialout" in text
    assert "DeviceAllow=char-ttyUSB rw" in text and "DeviceAllow=char-ttyACM rw" in text


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multistage_non_root_with_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'VOLUME ["/var/lib/tracseq"]' in text
    assert 'ENTRYPOINT ["tracseq-edge"]' in text


def test_compose_file_is_sound() -> None:
    """docker compose cannot run here (no engine, no plugin); check the structure."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("mosquitto", "redis", "edge", "central", "analytics", "jaeger", "redis-commander"):
        assert name in services, name
    assert services["postgres"]["profiles"] == ["postgres"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith(("/", ".")):
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
    published = {p.split(":")[1] for s in services.values() for p in s.get("ports", [])}
    assert {"8087", "8095", "8097", "16686", "8096"} <= published


def test_docker_config_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge", "check", "-c", str(REPO / "docker" / "sensors.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
